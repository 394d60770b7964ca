"""One function per command, composing io and plan: generate, show, validate, adherence, status.
(Nothing is re-exported here: the functions share their modules' names; :mod:`dosing` exports them.)"""
