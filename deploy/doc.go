// Package deploy holds no code: its tests check the deployment files beside it
// (../docker-compose.yml, docker/, k8s/, prometheus/, README.md and ../docs/operations.md)
// against the real binaries, since no container runtime or cluster runs where the tests do.
//
// They load the compose file with compose-go, build every Kustomize overlay with the kustomize
// API and decode each object strictly into its Kubernetes type, parse the alert rules and the
// Prometheus configuration with Prometheus' own packages, and check that every flag,
// environment variable, port, topic and metric those files name is one the services accept,
// listen on, create or register. The accepted flags come from the services' own flag sets; the
// topics and metrics from a stash and an export run briefly against a throwaway PostgreSQL and an
// in-process Kafka broker.
package deploy
