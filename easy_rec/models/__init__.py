"""Model zoo. Every module in this package is imported so that its models register themselves."""
import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("registry", "base"):
        importlib.import_module(f"{__name__}.{_module.name}")
