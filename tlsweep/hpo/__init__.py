"""What a trial needs from the sweeper: the pruning hook (``tlsweep.hpo.pruning``)."""
