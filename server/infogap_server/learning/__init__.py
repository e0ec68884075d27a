"""Update rules: what the learner does offline with logged decisions and their rewards.

- :mod:`.recommend`: Recommend's loop (``infogap learn``): rewards from feedback, training on the decision log, the
  takeover rule, the offline check and publishing (the bandit itself is ``policies/bandit.py``, which serving
  loads);
- :mod:`.bench_recommend`: the seeded simulation and the speed run of ``infogap bench``;
- :mod:`.ope`: off-policy estimators (IPW, self-normalised IPW, direct method, doubly robust) with bootstrap
  intervals, to judge a policy on logs another policy collected;
- :mod:`.open_bandit`: the Open Bandit Dataset benchmark (``infogap bench --paths open-bandit``).

Nothing in serving imports this package (``learning -> policies``, never the reverse): the serving side reads
published versions through ``policies``.
"""
