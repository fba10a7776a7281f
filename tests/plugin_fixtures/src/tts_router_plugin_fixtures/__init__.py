"""Plugins that exist only to test entry-point discovery and the router's isolation of faults.

Not installed anywhere: the ``fixture_plugins`` pytest fixture (tests/core_support/
plugin_fixtures.py) makes this package and its entry points (``../../pyproject.toml``) visible
to the one test that asks for it. Each module is one entry point:

==============================  ==================  ============================================
entry point                     provider id         what goes wrong
==============================  ==================  ============================================
``fixture_good``                ``entry-point-fake``  nothing: a FakeProvider (clone + design)
``fixture_broken``              (none)              the module raises ImportError on import
``fixture_hook_raises``         (none)              ``register_providers`` raises RuntimeError
``fixture_registers_nothing``   (none)              ``register_providers`` registers no class
``fixture_ctor_raises``         ``ctor-raises``     ``from_settings`` raises RuntimeError("boom")
``fixture_caps_raise``          ``caps-raise``      ``capabilities`` raises RuntimeError
``fixture_available_raises``    ``available-raises``  ``available`` raises RuntimeError
``fixture_health_raises``       ``health-raises``   ``health()`` raises RuntimeError
``fixture_bad_caps``            ``bad-caps``        languages ``("en", "xx", "english")``
==============================  ==================  ============================================
"""
