"""Tools around the product, never part of it: the platform sandboxes, the demo, shared fixtures.

- `devtools.sandboxes`: local stand-ins for the WeChat, Weibo and WeChat Pay servers (tests, the
  demo and the benchmarks talk to them over loopback).
- `devtools.demo`: `make demo` (`python -m devtools.demo`) and each app's demo loader.
- `devtools.names`: the Chinese names and cities the demo, the sandboxes and `bench/generate.py`
  give their people.

Dependencies point one way: devtools imports the product apps, no product module imports
devtools (so a production install can leave it out and loses nothing it serves).
"""
