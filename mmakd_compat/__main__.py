"""``python -m mmakd_compat``: what ``import mmakd`` changes in this
environment, fix by fix (see docs/process-changes.md)."""
import mmakd  # noqa: F401  (applies the fixes)
from mmakd_compat import DOCS, report

rows = [(s.name, s.state, s.detail) for s in report()]
width = max(len(name) for name, _, _ in rows)
for name, state, detail in rows:
    print(f'{name:<{width}}  {state:<12}  {detail}')
print(f'\nEach fix: {DOCS}')
