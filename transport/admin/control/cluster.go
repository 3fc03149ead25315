package control

// Issue 14: the cluster operations. OpClusterStatus returns the member's
// cluster.Status; OpClusterLeave marks the member as leaving (it stops
// taking mail) and returns Changed.
const (
	OpClusterStatus = "cluster.status"
	OpClusterLeave  = "cluster.leave"
)

// OpClusterRotateJoin revokes every join token issued so far (cluster
// token -Rotate) and returns JoinEpoch.
const OpClusterRotateJoin = "cluster.rotatejoin"

// JoinEpoch is the cluster's join epoch after a rotation.
type JoinEpoch struct {
	Epoch uint64 `json:"epoch"`
}
