"""``register_all_modules``, as every OpenMMLab package has one."""


def register_all_modules() -> None:
    """Registers mmakd's modules in MMRazor's registries (imports
    :mod:`mmakd`).

    mmengine calls ``<scope>.utils.register_all_modules`` for a registry of
    a scope in its package table that names no import location; mmakd is in
    that table while it is imported (``docs/process-changes.md``). mmakd
    sets no default scope: its modules live in MMRazor's registries.
    """
    import mmakd  # noqa: F401
