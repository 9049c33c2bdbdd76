"""``python -m easy_rec.hpo [report] ...``: launch or resume a sweep, or report on one."""
from __future__ import annotations

import logging
import sys

from easy_rec.config.errors import ConfigError
from easy_rec.hpo.search_space import SearchSpaceError


def main(argv: list[str] | None = None) -> int:
    """Runs ``report`` when it is the first argument, else the launch command."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["report"]:
            from easy_rec.hpo import report

            return report.main(argv[1:])
        from easy_rec.hpo import command

        return command.main(argv)
    except (ConfigError, SearchSpaceError, FileNotFoundError, LookupError, ValueError,
            RuntimeError) as error:
        logging.getLogger("easy_rec.hpo").debug("error details", exc_info=True)
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
