"""What a message may name: a regimen, a dose and a unit as the user who runs the command sees them.

A blinded run (the default) must not reveal the arm in anything it prints, so every message about a
regimen names it through a :class:`View`: blinded, a regimen behind a blinded label is named by that
label (``'hrIL-2 or placebo'``, never ``il2-placebo``) and a dose hidden by a ``blinded_dose`` by that
text (``1 syringe``, never ``200000 IU`` or ``mL``); unblinded, the regimen id and the true dose.
:func:`dosing.protocol.safety.check_blinding` guarantees that everything else about the regimens sharing a
blinded label (schedule, times, cycles) is the same in every arm, so messages may name it. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol.model import Protocol, Regimen

#: Said where a blinded run cannot show a dose or unit that differs between arms.
HIDDEN_UNIT = "the unit of the true dose (hidden in a blinded run)"


@dataclass(frozen=True)
class View:
    """How messages name things: ``unblinded`` False (the default) shows only what blinded staff see."""

    protocol: Protocol
    unblinded: bool = False

    def _blinds(self, regimen: Regimen) -> bool:
        return not self.unblinded and self.protocol.study.blinded and regimen.blinded_label is not None

    def hides_dose(self, regimen_id: str) -> bool:
        """True where the dose (amount and unit) differs between arms and this view may not show it."""
        regimen = self.protocol.regimen(regimen_id)
        return not self.unblinded and self.protocol.study.blinded and regimen.blinded_dose is not None

    def regimen(self, regimen_id: str) -> str:
        """The regimen as this view names it, quoted: ``'hrIL-2 or placebo'`` blinded, ``'il2'`` unblinded."""
        regimen = self.protocol.regimen(regimen_id)
        return repr(regimen.blinded_label if self._blinds(regimen) else regimen.id)

    def unit(self, regimen_id: str) -> str:
        """The regimen's dose unit, or :data:`HIDDEN_UNIT` where the view hides the dose."""
        return HIDDEN_UNIT if self.hides_dose(regimen_id) else self.protocol.regimen(regimen_id).dose.absolute_unit

    def regimen_names(self) -> list[str]:
        """Every name a user of this view knows the regimens by (ids of unblinded ones, blinded labels)."""
        names = [str(r.blinded_label) if self._blinds(r) else r.id for r in self.protocol.regimens]
        return list(dict.fromkeys(names))  # a blinded label once


__all__ = ["HIDDEN_UNIT", "View"]
