"""Demo material outside the production core: synthetic SSc-ILD CT phantoms with exact truth
(`phantoms` is the public face) and the seeding of a demo site (`seeding`).

The core never imports this package; the demo and the tests do.
"""
