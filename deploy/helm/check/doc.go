// Package check renders the zshard Helm chart (deploy/helm/zshard) with
// Helm's own library, lints it, and decodes every rendered object strictly
// into its Kubernetes API type, so that a misspelt or misplaced field fails
// without a cluster. `make k8s-check` runs its tests.
//
// It is a module of its own so that the zshard module does not depend on
// Helm and the Kubernetes API.
package check
