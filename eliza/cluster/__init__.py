"""What a deployment of several workers and hosts shares: the agents' leases, the workers'
addresses, the requests carried between workers, and the jobs run once per deployment."""
