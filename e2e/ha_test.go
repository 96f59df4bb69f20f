//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// TestHAFailover: a three-node raft cluster on loopback. A checkout sent to a
// standby works (forwarded to the active node); the active node is killed;
// the new active node revokes and expires the leases made before, checking
// them in.
func TestHAFailover(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	nodes := e.raftCluster(3)
	n1 := nodes[0]

	e.setup(n1)
	e.writeRole("db", "system_name=db-prod-01", "account_name=postgres", "ttl=10m")
	e.writeRole("short", "system_name=db-prod-01", "account_name=app_user", "ttl=45s", "max_ttl=45s")
	e.writeRole("web", "system_name=web-01", "account_name=deploy", "ttl=10m")

	// Checkouts through both standbys are forwarded to the active node.
	long, err := e.tryCreds(nodes[1], "", "db")
	if err != nil {
		t.Fatalf("checkout via standby %s: %v", nodes[1].name, err)
	}
	short, err := e.tryCreds(nodes[2], "", "short")
	if err != nil {
		t.Fatalf("checkout via standby %s: %v", nodes[2].name, err)
	}
	if long.Data["password"] != e.sim.Inspect().Password(11) {
		t.Fatalf("standby checkout returned the wrong password")
	}

	// Crash the active node (and its plugin process).
	n1.kill()
	var active *vault
	eventually(t, 60*time.Second, "a new active node", func() (bool, string) {
		for _, n := range nodes[1:] {
			if n.health() == 200 {
				active = n
				return true, ""
			}
		}
		return false, fmt.Sprintf("health %d %d", nodes[1].health(), nodes[2].health())
	})
	e.setActive(active)
	t.Logf("new active node: %s", active.name)

	// The new active node revokes a lease made before the failover…
	if _, err := active.cli("lease", "revoke", long.LeaseID); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(e.requestOf(long.LeaseID), "checkedin", 15*time.Second)
	// … expires the short one by its TTL …
	e.waitStatus(e.requestOf(short.LeaseID), "checkedin", 90*time.Second)
	// … and serves new checkouts, through the remaining standby too.
	other := nodes[1]
	if other == active {
		other = nodes[2]
	}
	s, err := e.tryCreds(other, "", "web")
	if err != nil {
		t.Fatalf("checkout via the remaining standby: %v", err)
	}
	if _, err := active.cli("lease", "revoke", s.LeaseID); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(e.requestOf(s.LeaseID), "checkedin", 15*time.Second)
}

// raftCluster starts n raft nodes on loopback (the first initialised and
// unsealed, the others joined with retry_join and unsealed) and waits until
// all are voters. The first node is the active one and the env's.
func (e *env) raftCluster(n int) []*vault {
	t := e.t
	t.Helper()
	var nodes []*vault
	var leaderAddr string
	for i := 1; i <= n; i++ {
		o := vaultOpts{storage: "raft", nodeID: fmt.Sprintf("node%d", i)}
		if i > 1 {
			o.joinAddrs = []string{leaderAddr}
		}
		v := newServerVault(t, o.nodeID, o)
		if i == 1 {
			leaderAddr = v.addr
		}
		nodes = append(nodes, v)
	}
	n1 := nodes[0]
	n1.start()
	n1.waitReady(false)
	e.addVault(n1)
	key := n1.initUnseal()
	n1.waitReady(true)
	// Promote joiners to voters quickly (the default waits 10s per server).
	n1.must("operator", "raft", "autopilot", "set-config", "-server-stabilization-time=2s", "-cleanup-dead-servers=false")
	for _, v := range nodes[1:] {
		v.start()
		v.waitReady(false)
		e.addVault(v)
		v.setRootToken(n1.rootToken())
		// A retry_join node takes the unseal key, joins, and then unseals
		// itself with it: supply it once. (Supplied again while the join
		// runs, Vault unseals twice and runs two standby loops; a node that
		// becomes active through the older one ignores `operator step-down`:
		// "manual step-down operation already queued".)
		supplied := false
		eventually(t, 60*time.Second, v.name+" to join and unseal", func() (bool, string) {
			code := v.health()
			if code == 429 { // unsealed standby
				return true, ""
			}
			if !supplied {
				if _, err := v.cliAs("", "operator", "unseal", key); err != nil {
					return false, err.Error()
				}
				supplied = true
			}
			return false, fmt.Sprintf("sys/health %d", code)
		})
	}
	eventually(t, 90*time.Second, fmt.Sprintf("%d raft voters", n), func() (bool, string) {
		var peers struct {
			Data struct {
				Config struct {
					Servers []struct {
						NodeID string `json:"node_id"`
						Voter  bool   `json:"voter"`
						Leader bool   `json:"leader"`
					} `json:"servers"`
				} `json:"config"`
			} `json:"data"`
		}
		if err := n1.jsonAs(n1.rootToken(), &peers, []string{"operator", "raft", "list-peers"}); err != nil {
			return false, err.Error()
		}
		voters := 0
		for _, s := range peers.Data.Config.Servers {
			if s.Voter {
				voters++
			}
		}
		b, _ := json.Marshal(peers.Data.Config.Servers)
		return voters == n, string(b)
	})
	return nodes
}
