"""Replacing a module's function by a wrapper, once, where it is used.

The fixes of :mod:`~mmakd_compat.mmakd_configs` and
:mod:`~mmakd_compat.onedl_forks` wrap functions of mmengine in the module
that defines them and rebind the wrapper in the modules that imported the
function by name before the fix ran. Each fix marks its wrappers with an
attribute of its own, so that no function is wrapped twice by the same fix
and the fixes can stack.
"""
import functools
import sys
from typing import Callable, Optional, Sequence, Tuple

__all__ = ['marked', 'wrap_function', 'rebind']


def marked(wrapper: Callable, original: Callable, mark: str) -> Callable:
    """``wrapper`` with ``original``'s name and docstring, its
    ``__wrapped__`` and the attribute ``mark`` set.

    Args:
        wrapper: The new function.
        original: The function it wraps.
        mark: The attribute that says which fix made it.

    Returns:
        Callable: ``wrapper``.
    """
    functools.update_wrapper(wrapper, original)
    setattr(wrapper, mark, True)
    return wrapper


def wrap_function(module, name: str, factory: Callable[[Callable], Callable],
                  mark: str) -> Optional[Tuple[Callable, Callable]]:
    """Replaces ``module.<name>`` by ``factory(module.<name>)``, once.

    Args:
        module: The module that defines the function.
        name: The function's name.
        factory: Makes the wrapper (marked with ``mark``) of a function.
        mark: The attribute of the fix's wrappers.

    Returns:
        tuple | None: (the function wrapped, its wrapper); None if the module
        has no such attribute.
    """
    current = getattr(module, name, None)
    if current is None:
        return None
    if getattr(current, mark, False):
        return current.__wrapped__, current
    wrapper = factory(current)
    setattr(module, name, wrapper)
    return current, wrapper


def rebind(importers: Sequence[str], name: str, original: Callable,
           wrapper: Callable) -> None:
    """Points ``<importer>.<name>`` at ``wrapper`` in each imported module of
    ``importers`` that still holds ``original``.

    Args:
        importers: Module names.
        name: The attribute.
        original: The function that was wrapped.
        wrapper: Its wrapper.
    """
    for importer in importers:
        other = sys.modules.get(importer)
        if other is not None and getattr(other, name, None) is original:
            setattr(other, name, wrapper)
