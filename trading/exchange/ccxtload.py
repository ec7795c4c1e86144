"""Import one ccxt exchange class without importing all of ccxt.

`import ccxt.pro` (or any ccxt module) runs the package's `__init__`, which imports every
exchange ccxt has: about 110 MB before a single market is loaded, against the live bot's 100 MB
budget. This module registers light stand-ins for the `ccxt`, `ccxt.async_support` and
`ccxt.pro` packages first: each has the real package's `__path__` (so `ccxt.base...` and
`ccxt.pro.bybit` import from the installed files as usual), the names ccxt's own modules import
from the package (its errors, `Exchange`, the precision helpers), and a module `__getattr__`
that imports one exchange module when it is asked for (`ccxt.async_support.bybit`, which
`ccxt.pro.bybit` subclasses).

It leans on how ccxt lays out its packages; `tests/exchange/test_ccxtload.py` fails when an
upgrade breaks it. When the real ccxt is already imported (a test process, a shell), the real
modules are used as they are.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

SUPPORTED = ("bybit", "binanceusdm", "okx")

_PRECISION_NAMES = (
    "decimal_to_precision",
    "TRUNCATE",
    "ROUND",
    "ROUND_UP",
    "ROUND_DOWN",
    "DECIMAL_PLACES",
    "SIGNIFICANT_DIGITS",
    "TICK_SIZE",
    "NO_PADDING",
    "PAD_WITH_ZERO",
)


def _lazy_exchanges(package: str) -> Any:
    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            module = importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(module, name, module)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__


def _stand_in(name: str, path: list[str], values: dict[str, Any]) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__path__ = path
    module.__package__ = name
    module.__dict__.update(values)
    module.__getattr__ = _lazy_exchanges(name)  # type: ignore[method-assign]
    module.__levelbot_stand_in__ = True  # type: ignore[attr-defined]
    sys.modules[name] = module
    return module


def install() -> None:
    """Register the stand-in packages unless ccxt (real or stand-in) is already imported."""
    if "ccxt" in sys.modules:
        return
    spec = importlib.util.find_spec("ccxt")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("ccxt is not installed: pip install -r requirements.txt")
    root = list(spec.submodule_search_locations)
    version = _read_version(spec.origin or "")
    ccxt = _stand_in("ccxt", root, {"__version__": version})
    subpackages = {}
    for package in ("ccxt.async_support", "ccxt.pro"):
        # Registered before anything below is imported: the real `__init__` must never run.
        sub = _stand_in(package, [f"{root[0]}/{package.split('.')[1]}"], {"__version__": version})
        setattr(ccxt, package.split(".")[1], sub)
        subpackages[package] = sub
    # The packages' own names come from modules that import none of the exchanges.
    errors = importlib.import_module("ccxt.base.errors")
    precision = importlib.import_module("ccxt.base.decimal_to_precision")
    exchange = importlib.import_module("ccxt.base.exchange")
    precise = importlib.import_module("ccxt.base.precise")
    names = {n: getattr(errors, n) for n in errors.__all__}
    names.update({n: getattr(precision, n) for n in _PRECISION_NAMES})
    ccxt.__dict__.update(names, errors=errors, Exchange=exchange.Exchange, Precise=precise.Precise)
    async_base = importlib.import_module("ccxt.async_support.base.exchange")
    for sub in subpackages.values():
        sub.__dict__.update(names, errors=errors, Exchange=async_base.Exchange)


def _read_version(init_path: str) -> str:
    with open(init_path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("__version__"):
                return line.split("=", 1)[1].strip().strip("'\"")
    return "unknown"


def exchange_class(exchange_id: str, *, pro: bool = True) -> type:
    """The ccxt class for `exchange_id`: the ccxt.pro one (REST and websockets) by default,
    else the async REST one. Only the exchanges levelbot supports are offered."""
    if exchange_id not in SUPPORTED:
        raise ValueError(
            f"levelbot does not trade on {exchange_id!r}; supported: {', '.join(SUPPORTED)}."
        )
    install()
    cls = _import_class("ccxt.async_support", exchange_id)
    if pro:
        cls = _import_class("ccxt.pro", exchange_id)
        if exchange_id == "bybit":
            from trading.exchange.bybittrades import with_lean_trades

            cls = with_lean_trades(cls)
    return cls


def _import_class(package: str, name: str) -> type:
    """Import `package.name` and bind the package's attribute to the class, as ccxt's own
    `__init__` does: ccxt.pro modules write `import ccxt.async_support.binanceusdm as rest`
    and call it, which needs the class there, not the module."""
    module = importlib.import_module(f"{package}.{name}")
    cls: type = getattr(module, name)
    for loaded in list(sys.modules):  # and for the exchanges it imported (binance for usdm)
        parent, _, child = loaded.rpartition(".")
        if parent in ("ccxt.async_support", "ccxt.pro"):
            value = getattr(sys.modules[loaded], child, None)
            if isinstance(value, type):
                setattr(sys.modules[parent], child, value)
    return cls


def full_ccxt_loaded() -> bool:
    """Whether the whole of ccxt (every exchange) has been imported into this process."""
    module = sys.modules.get("ccxt")
    return module is not None and not getattr(module, "__levelbot_stand_in__", False)
