"""Update rules: what the learner does offline with logged decisions and their rewards.

- :mod:`.bandit`: the contextual-bandit learner (Vowpal Wabbit ``cb_explore_adf``) with seeded, replayable sampling
  and a byte format for publishing policy versions;
- :mod:`.ope`: off-policy estimators (IPW, self-normalised IPW, direct method, doubly robust) with bootstrap
  intervals, to judge a policy on logs another policy collected;
- :mod:`.open_bandit`: the Open Bandit Dataset benchmark (``infogap bench --paths open-bandit``).

Nothing in serving imports this package (``learning -> policies``, never the reverse): the serving side reads
published versions through ``policies``.
"""
