"""An address resolver for tests: every customer is reachable as `openid-<id>` on account `gh_demo`."""


def resolve(customer):
    return ("gh_demo", f"openid-{customer.pk}")
