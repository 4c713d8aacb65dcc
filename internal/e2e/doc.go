// Package e2e holds the end-to-end test of zshard on containers: images built
// locally (docker/build-images.sh), the cluster of docker-compose.yml brought
// up under a private project name, data loaded over the wire protocol, nodes
// stopped, paused and cut off the network while Consul's view and the
// remaining nodes are checked, everything restored, then torn down with
// nothing left behind (TestDockerCluster); and node-4 added on a spare host
// container and node-0 removed with client_producer's rebalancing while a
// producer keeps writing, with R=0 and R=2, after which every acknowledged
// write is read back (TestDockerRebalance); and the secure variant
// (docker-compose.secure.yml: Consul with ACLs on, a token per program)
// refusing anonymous callers and each token what is not its job
// (TestDockerSecure). TestSwarmStack deploys
// deploy/swarm/zshard-stack.yml on the engine made a single-node swarm,
// kills a node's task, adds node-4 and removes node-0 with the orchestrator's
// scale steps and client_producer, and reads every key back; its steps that
// need the stack's overlay network run this test binary in a container on
// that network (TestSwarmStep).
//
// The tests carry the build tag e2e, so `go test ./...` does not run them.
// Run them with `make e2e-docker` and `make e2e-swarm`, which build the
// images first, or by hand:
//
//	docker/build-images.sh
//	go test -tags e2e -count=1 -v -timeout 30m -run TestDocker ./internal/e2e
//	go test -tags e2e -count=1 -v -timeout 20m -run TestSwarmStack ./internal/e2e
//
// Environment: ZSHARD_IMAGE and CONSUL_IMAGE name the images (default the
// local tags zshard/zshard:local and zshard/consul:local); ZSHARD_COMPOSE
// picks the compose command ("docker compose" or "docker-compose"; default:
// the plugin if present, else docker-compose).
package e2e
