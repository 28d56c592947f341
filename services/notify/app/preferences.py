"""Preferences use cases: an advocate's own settings over company defaults over the built-in ones.

One process owns the preferences (the notify service runs as one replica), so a cache in front of
the `_id` reads stays exact: every write goes through here."""

from __future__ import annotations

from services.notify.app.stores import PreferencesStore
from services.notify.domain.notification import Kind
from services.notify.domain.preferences import BUILT_IN, Preferences, validated


class PreferencesService:
    def __init__(self, store: PreferencesStore) -> None:
        self._store = store
        self._own: dict[str, Preferences | None] = {}
        self._company: Preferences | None = None
        self._company_loaded = False

    async def company_defaults(self) -> Preferences:
        if not self._company_loaded:
            self._company = await self._store.company_defaults()
            self._company_loaded = True
        return self._company or BUILT_IN

    async def own(self, advocate_id: str) -> Preferences | None:
        if advocate_id not in self._own:
            self._own[advocate_id] = await self._store.own(advocate_id)
        return self._own[advocate_id]

    async def effective(self, advocate_id: str) -> tuple[Preferences, bool]:
        """The settings that apply, and whether they are the company's (or built-in) defaults."""
        own = await self.own(advocate_id)
        if own is not None:
            return own, False
        return await self.company_defaults(), True

    async def wants(self, advocate_id: str, kind: Kind) -> bool:
        prefs, _ = await self.effective(advocate_id)
        return not prefs.opted_out and kind in prefs.kinds

    async def update(self, advocate_id: str, prefs: Preferences) -> Preferences:
        prefs = validated(prefs)
        await self._store.save(advocate_id, prefs)
        self._own[advocate_id] = prefs
        return prefs

    async def opt_out(self, advocate_id: str) -> Preferences:
        """Everything off in one call: the advocate's settings (or the defaults they had) opted out."""
        current, _ = await self.effective(advocate_id)
        return await self.update(advocate_id, current.opt_out())

    async def put_company_defaults(self, prefs: Preferences) -> Preferences:
        prefs = validated(prefs)
        await self._store.save_company_defaults(prefs)
        self._company, self._company_loaded = prefs, True
        return prefs
