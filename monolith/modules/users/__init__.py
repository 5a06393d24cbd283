"""users: who may place orders."""

from pathlib import Path

from contracts.users import Users
from migration.runtime.modules import ModuleContext, ModuleSpec
from monolith.modules.users.service import UsersService
from monolith.modules.users.tables import metadata


def _build(context: ModuleContext) -> UsersService:
    return UsersService(context.unit_of_work)


module = ModuleSpec(
    name="users",
    contract=Users,
    factory=_build,
    metadata=metadata,
    migrations=Path(__file__).parent / "migrations" / "versions",
    description="Registers users and looks them up.",
)
