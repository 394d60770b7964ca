"""A protocol from parsed TOML data, checked in full: the model, the checks across its fields, a
simulated cohort (which needs the schedule arithmetic of this layer), its visits and its study zone."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..errors import ProtocolError
from ..protocol.checks import check_references
from ..protocol.limits import check_counts
from ..protocol.messages import describe
from ..protocol.model import Protocol
from ..protocol.visit_checks import check_visits
from ..protocol.zones import check_study_zone
from .simulation import check_simulated


def protocol_from_dict(data: dict[str, Any], source: str = "<protocol>") -> Protocol:
    """Validate parsed TOML data. Raises ProtocolError naming the field path and the fix."""
    check_counts(data, source)
    try:
        protocol = Protocol.model_validate({**data, "source": source})
    except ValidationError as err:
        raise ProtocolError(describe(err, data), source=source) from None
    check_references(protocol)
    check_simulated(protocol)
    check_visits(protocol)
    check_study_zone(protocol)
    return protocol
