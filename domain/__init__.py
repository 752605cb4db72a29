"""The domain: models and the rules of the service process.

Nothing here imports a blueprint; views call into this package.
"""

# The packages from the bottom up: a package imports those below it, not those above (docs/design.md draws it;
# tests/test_structure.py fails on a new upward import, and lists the ones not yet turned around).
LAYERS = ("core", "sla", "requests", "alerts", "devices", "documents", "knowledge", "fieldwork", "customer",
          "reporting")

# Every package keeps its models beside its rules; they are imported here, together, so that a relationship
# naming a class of another package (by name, resolved when the mappers are configured) always finds it.
from .alerts import models as _alerts_models  # noqa: E402, F401
from .core import models as _core_models  # noqa: E402, F401
from .customer import models as _customer_models  # noqa: E402, F401
from .devices import models as _devices_models  # noqa: E402, F401
from .documents import models as _documents_models  # noqa: E402, F401
from .fieldwork import models as _fieldwork_models  # noqa: E402, F401
from .knowledge import models as _knowledge_models  # noqa: E402, F401
from .requests import models as _requests_models  # noqa: E402, F401
from .sla import models as _sla_models  # noqa: E402, F401
from .sla import policy as _sla_policy  # noqa: E402, F401  (installs the core's policy provider)
