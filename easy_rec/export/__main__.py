"""`python -m easy_rec.export --pipeline_config x.config --export_dir D`: write a SavedModel.

Without --pipeline_config, --model_dir names a trained model_dir and its pipeline.config
(the config as run, which training writes there) is used, as EasyRec's export does.

EasyRec's --redis_* flags make it a split export (docs/embedding_store.md): they override
export_config.embedding_store (--redis_url alone switches it on).
"""
from __future__ import annotations

import argparse
import os

from easy_rec import cli
from easy_rec.config.errors import ConfigError
from easy_rec.utils.pipeline_files import PIPELINE_CONFIG_NAME


def build_parser() -> argparse.ArgumentParser:
    """The command line of export (no input paths: export reads no data)."""
    parser = cli.build_parser("easy_rec.export", __doc__)
    cli.add_config_arguments(parser, inputs=[], config_help=(
        f"pipeline config file (default: <--model_dir>/{PIPELINE_CONFIG_NAME}, written by "
        "training)"))
    parser.add_argument("--export_dir", required=True,
                        help="the SavedModel goes to <export_dir>/<timestamp>/")
    parser.add_argument("--checkpoint_path", default=None,
                        help="checkpoint prefix or directory (default: latest in model_dir)")
    store = parser.add_argument_group("embedding store (EasyRec's export flags; they override "
                                      "export_config.embedding_store)")
    store.add_argument("--redis_url", default=None, help="redis://host:port/db to store the "
                       "big embedding tables in (a host:port is taken as redis://host:port/0)")
    store.add_argument("--redis_passwd", default=None, help="Redis password (else from the URL "
                       "or $EASY_REC_REDIS_PASSWORD)")
    store.add_argument("--redis_threads", type=int, default=0, help="writer threads (0: config)")
    store.add_argument("--redis_batch_size", type=int, default=0,
                       help="rows per pipelined write (0: config)")
    store.add_argument("--redis_timeout", type=int, default=0,
                       help="socket timeout in seconds (0: config)")
    store.add_argument("--redis_expire", type=int, default=0,
                       help="hours a replaced version stays readable (0: config)")
    store.add_argument("--redis_embedding_version", default="",
                       help="version name (default: the time in seconds)")
    store.add_argument("--redis_write_kv", type=int, default=1, choices=(0, 1),
                       help="0: write no rows; --redis_embedding_version names a version "
                       "already in Redis")
    return parser


def apply_store_flags(args: argparse.Namespace, config) -> None:
    """Copies the --redis_* flags given into export_config.embedding_store; the password goes
    to the environment (never into the config, which the export carries)."""
    from easy_rec.store.redis_client import PASSWORD_ENV

    store = config.export_config.embedding_store
    if args.redis_url:
        store.redis_url = args.redis_url if "://" in args.redis_url else f"redis://{args.redis_url}/0"
    for flag, field in (("redis_threads", "threads"), ("redis_batch_size", "batch_size"),
                        ("redis_timeout", "timeout_secs"), ("redis_expire", "expire_hours")):
        if getattr(args, flag) > 0:
            setattr(store, field, getattr(args, flag))
    if args.redis_passwd:
        os.environ[PASSWORD_ENV] = args.redis_passwd
    if args.redis_write_kv == 0 and not args.redis_embedding_version:
        raise ConfigError("--redis_write_kv 0 needs --redis_embedding_version (the version "
                          "already in Redis)", path="<command line>")


def config_of_model_dir(args: argparse.Namespace) -> None:
    """Points a missing --pipeline_config at model_dir's pipeline.config (ConfigError when
    neither is usable)."""
    if args.pipeline_config:
        return
    if not args.model_dir:
        raise ConfigError("give --pipeline_config, or --model_dir of a trained model (its "
                          f"{PIPELINE_CONFIG_NAME} is used)", path="<command line>")
    path = os.path.join(args.model_dir, PIPELINE_CONFIG_NAME)
    if not os.path.isfile(path):
        raise ConfigError(f"{args.model_dir} has no {PIPELINE_CONFIG_NAME} (training writes it "
                          "there); give --pipeline_config", path=path)
    args.pipeline_config = path


def main() -> int:
    """Entry point; prints the export path and returns the exit status."""
    args = cli.parse_args(build_parser())
    config_of_model_dir(args)
    config = cli.load_config(args).config
    apply_store_flags(args, config)
    from easy_rec.export.exporter import export_saved_model
    from easy_rec.export.split import StoreRelease
    from easy_rec.training.restore import load_trained_model
    from easy_rec.utils.writable import require_writable_dir

    # only export_dir is written: checkpoints are read from a model_dir that may be read-only
    require_writable_dir(args.export_dir, "--export_dir")
    base_dir = os.path.dirname(os.path.abspath(args.pipeline_config))
    model, step, _ = load_trained_model(config, args.checkpoint_path, base_dir)
    release = StoreRelease(args.redis_embedding_version or None, bool(args.redis_write_kv))
    print(export_saved_model(model, config, args.export_dir, step, base_dir=base_dir,
                             release=release))
    return 0


if __name__ == "__main__":
    cli.run(main)
