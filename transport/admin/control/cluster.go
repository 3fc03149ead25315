package control

// Issue 14: the cluster operations. OpClusterStatus returns the member's
// cluster.Status; OpClusterLeave marks the member as leaving (it stops
// taking mail) and returns Changed.
const (
	OpClusterStatus = "cluster.status"
	OpClusterLeave  = "cluster.leave"
)
