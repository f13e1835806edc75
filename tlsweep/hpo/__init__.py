"""What a trial needs from the sweeper: the pruning hook and its trial's records (``pruning``)."""
