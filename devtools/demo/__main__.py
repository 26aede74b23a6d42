"""`python -m devtools.demo`: see the package docstring."""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
django.setup()

from devtools.demo import main  # noqa: E402  after django.setup()

sys.exit(main(sys.argv[1:]))
