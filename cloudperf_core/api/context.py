"""What every route needs: the opened services, the settings, the clock, the hasher."""

from __future__ import annotations

from dataclasses import dataclass, field

from cloudperf_core.auth import PasswordHasher
from cloudperf_core.bootstrap import Services
from cloudperf_core.clock import SystemClock
from cloudperf_core.ports import Clock
from cloudperf_core.settings import ServiceSettings


@dataclass
class ApiContext:
    """Built once per process (a Lambda container, a ``cloudperf serve``) and shared."""

    services: Services
    settings: ServiceSettings = field(default_factory=ServiceSettings)
    clock: Clock = field(default_factory=SystemClock)
    hasher: PasswordHasher | None = None

    def password_hasher(self) -> PasswordHasher:
        if self.hasher is None:
            self.hasher = PasswordHasher(self.settings)
        return self.hasher
