"""Pure decision policy: no I/O, no clients, unit-tested without servers.

``direction`` (which way is better), ``gate`` (paired scores → promote / hold / reject, a result for
every check), ``evidence`` (offline replay + online shadow combined), ``training_plan`` (train /
evaluate / skip), ``decision`` (trigger-form overrides, force and dry run) and ``watch`` (the
post-promotion limits).
"""
