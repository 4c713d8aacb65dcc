package check

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
)

const chartDir = "../zshard"

// valueSets are the value sets the chart is rendered, linted and checked
// with: the defaults and the options a user turns on or off.
var valueSets = map[string][]string{
	"defaults":  nil,
	"in-memory": {"persistence.enabled=false", "podDisruptionBudget.enabled=false", "nodes=3"},
	"producer-job": {"producer.job.enabled=true", "producer.job.args={load,--keys,100000}",
		"consul.address=consul.example:8500", "image.tag=v1", "imagePullSecrets[0].name=regcred"},
	"metrics": {"metrics.enabled=true", "serviceMonitor.enabled=true", "serviceMonitor.labels.release=prometheus",
		"node.extraArgs={--repair-interval,1m}", "persistence.storageClassName=fast", "nodes=5",
		"node.resources.requests.cpu=500m", "node.tolerations[0].operator=Exists"},
}

// render renders, lints and strictly decodes the chart with sets.
func render(t *testing.T, sets []string) map[string]Object {
	t.Helper()
	require.NoError(t, Lint(chartDir, sets))
	manifests, err := Render(chartDir, "demo", "data", sets)
	require.NoError(t, err)
	objs, err := DecodeAll(manifests)
	require.NoError(t, err)
	out := map[string]Object{}
	for _, o := range objs {
		out[o.Kind] = o
		t.Logf("%s %s (%s)", o.Kind, o.Name, o.Source)
	}
	return out
}

func TestChartRendersStrictly(t *testing.T) {
	for name, sets := range valueSets {
		t.Run(name, func(t *testing.T) {
			objs := render(t, sets)
			set := func(key string) bool { return slices.Contains(sets, key) }

			require.Contains(t, objs, "StatefulSet")
			sts := objs["StatefulSet"].Value.(*appsv1.StatefulSet)
			assert.Equal(t, "demo-zshard", sts.Name)
			wantNodes := int32(4)
			for _, s := range sets {
				fmt.Sscanf(s, "nodes=%d", &wantNodes)
			}
			require.NotNil(t, sts.Spec.Replicas)
			assert.Equal(t, wantNodes, *sts.Spec.Replicas)

			svc := objs["Service"].Value.(*corev1.Service)
			assert.Equal(t, corev1.ClusterIPNone, svc.Spec.ClusterIP, "the nodes' Service is headless")
			assert.Equal(t, svc.Name, sts.Spec.ServiceName)
			assert.Equal(t, svc.Spec.Selector, sts.Spec.Selector.MatchLabels)
			assert.Equal(t, sts.Spec.Selector.MatchLabels, subset(sts.Spec.Template.Labels, sts.Spec.Selector.MatchLabels),
				"the pods carry the selector's labels")

			c := sts.Spec.Template.Spec.Containers[0]
			args := strings.Join(c.Args, " ")
			// The node's name from the pod's index, its address from the
			// downward API.
			assert.Contains(t, args, "--name=node-$(POD_INDEX)")
			assert.Contains(t, args, "--advertise=$(POD_IP)")
			env := map[string]string{}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
					env[e.Name] = e.ValueFrom.FieldRef.FieldPath
				}
			}
			assert.Equal(t, "metadata.labels['apps.kubernetes.io/pod-index']", env["POD_INDEX"])
			assert.Equal(t, "status.podIP", env["POD_IP"])
			wantConsul := "consul-server.consul:8500"
			if set("consul.address=consul.example:8500") {
				wantConsul = "consul.example:8500"
			}
			assert.Contains(t, c.Args, "--consul="+wantConsul)
			// Ready when the node answers PING.
			require.NotNil(t, c.ReadinessProbe)
			require.NotNil(t, c.ReadinessProbe.Exec)
			assert.Equal(t, []string{"server_consumer", "ping", "tcp://127.0.0.1:2000", "--timeout=3s"}, c.ReadinessProbe.Exec.Command)

			durable := !set("persistence.enabled=false")
			assert.Equal(t, durable, slices.Contains(c.Args, "--data-dir=/data"))
			if durable {
				require.Len(t, sts.Spec.VolumeClaimTemplates, 1)
				assert.Equal(t, "data", sts.Spec.VolumeClaimTemplates[0].Name)
				require.Len(t, c.VolumeMounts, 1)
				assert.Equal(t, "/data", c.VolumeMounts[0].MountPath)
			} else {
				assert.Empty(t, sts.Spec.VolumeClaimTemplates)
				assert.Empty(t, c.VolumeMounts)
			}

			if set("podDisruptionBudget.enabled=false") {
				assert.NotContains(t, objs, "PodDisruptionBudget")
			} else {
				require.Contains(t, objs, "PodDisruptionBudget")
				pdb := objs["PodDisruptionBudget"].Value.(*policyv1.PodDisruptionBudget)
				assert.Equal(t, sts.Spec.Selector.MatchLabels, pdb.Spec.Selector.MatchLabels)
				assert.Equal(t, 1, pdb.Spec.MaxUnavailable.IntValue())
			}

			if set("producer.job.enabled=true") {
				require.Contains(t, objs, "Job")
				job := objs["Job"].Value.(*batchv1.Job)
				pc := job.Spec.Template.Spec.Containers[0]
				assert.Equal(t, []string{"client_producer"}, pc.Command)
				assert.Equal(t, []string{"load", "--keys", "100000"}, pc.Args)
				assert.Equal(t, "zshard/zshard:v1", pc.Image)
				assert.Equal(t, corev1.RestartPolicyNever, job.Spec.Template.Spec.RestartPolicy)
				// It waits for every node, by its DNS name under the headless Service.
				require.Len(t, job.Spec.Template.Spec.InitContainers, 1)
				wait := strings.Join(job.Spec.Template.Spec.InitContainers[0].Command, " ")
				assert.Contains(t, wait, "seq 0 3")
				assert.Contains(t, wait, "tcp://demo-zshard-$i.demo-zshard-nodes.data.svc:2000")
			} else {
				assert.NotContains(t, objs, "Job")
			}

			if set("serviceMonitor.enabled=true") {
				require.Contains(t, objs, "ServiceMonitor")
				sm := objs["ServiceMonitor"].Value.(*monitoringv1.ServiceMonitor)
				assert.Equal(t, "prometheus", sm.Labels["release"])
				assert.Equal(t, sm.Spec.Selector.MatchLabels, subset(svc.Labels, sm.Spec.Selector.MatchLabels), "the ServiceMonitor selects the nodes' Service")
				require.Len(t, sm.Spec.Endpoints, 1)
				assert.Equal(t, "metrics", sm.Spec.Endpoints[0].Port)
				assert.Contains(t, c.Args, "--metrics-port=2200")
			} else {
				assert.NotContains(t, objs, "ServiceMonitor")
				assert.NotContains(t, args, "--metrics-port")
			}
		})
	}
}

// subset returns the entries of m whose keys are in keys.
func subset(m, keys map[string]string) map[string]string {
	out := map[string]string{}
	for k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// TestUnknownFieldFails: a manifest with a field its type does not have
// (a misspelling, or a field at the wrong level) does not pass.
func TestUnknownFieldFails(t *testing.T) {
	manifests, err := Render(chartDir, "demo", "data", nil)
	require.NoError(t, err)
	_, err = DecodeAll(manifests)
	require.NoError(t, err, "the chart as it is must pass")

	for _, tc := range []struct{ template, from, to, field string }{
		{"statefulset.yaml", "\n  serviceName: ", "\n  serviceNmae: ", "serviceNmae"},
		{"statefulset.yaml", "readinessProbe:", "readynessProbe:", "readynessProbe"},
		{"service.yaml", "\n  clusterIP: None", "\n  clusterIP: None\n  bogus: 1", "bogus"},
		{"pdb.yaml", "maxUnavailable:", "maxUnavailible:", "maxUnavailible"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			broken := map[string]string{}
			found := false
			for k, doc := range manifests {
				if strings.HasPrefix(doc, "# Source: zshard/templates/"+tc.template+"\n") {
					require.Contains(t, doc, tc.from)
					doc = strings.Replace(doc, tc.from, tc.to, 1)
					found = true
				}
				broken[k] = doc
			}
			require.True(t, found, "no rendered %s", tc.template)
			_, err := DecodeAll(broken)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.field)
			t.Log(err)
		})
	}

	// The same through the chart: a copy whose template misspells a field
	// renders (Helm does not know the types) and fails the check.
	t.Run("in a template", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "zshard")
		require.NoError(t, os.CopyFS(dir, os.DirFS(chartDir)))
		tpl := filepath.Join(dir, "templates", "statefulset.yaml")
		b, err := os.ReadFile(tpl)
		require.NoError(t, err)
		require.Contains(t, string(b), "  podManagementPolicy: Parallel")
		b = []byte(strings.Replace(string(b), "  podManagementPolicy: Parallel", "  podManagmentPolicy: Parallel", 1))
		require.NoError(t, os.WriteFile(tpl, b, 0o644))
		manifests, err := Render(dir, "demo", "data", nil)
		require.NoError(t, err, "Helm renders it")
		_, err = DecodeAll(manifests)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `unknown field "podManagmentPolicy"`)
	})

	// A field given twice, and a kind the check does not know.
	_, err = Decode("twice", []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  name: b\n"))
	assert.Error(t, err)
	_, err = Decode("unknown kind", []byte("apiVersion: v1\nkind: Servise\nmetadata:\n  name: a\n"))
	assert.ErrorContains(t, err, "unexpected object")
}

// TestRenderRejectsBadValues: values the chart cannot run with fail at
// render time, with a message naming the value.
func TestRenderRejectsBadValues(t *testing.T) {
	_, err := Render(chartDir, "demo", "data", []string{"consul.address="})
	assert.ErrorContains(t, err, "consul.address")
	_, err = Render(chartDir, "demo", "data", []string{"serviceMonitor.enabled=true"})
	assert.ErrorContains(t, err, "metrics.enabled")
}

// FuzzDecode: any input is decoded or refused with an error, never a panic.
func FuzzDecode(f *testing.F) {
	manifests, err := Render(chartDir, "demo", "data", []string{"producer.job.enabled=true"})
	require.NoError(f, err)
	for _, doc := range manifests {
		f.Add([]byte(doc))
	}
	f.Add([]byte("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: x}]}\n"))
	f.Fuzz(func(t *testing.T, manifest []byte) {
		obj, err := Decode("fuzz", manifest)
		if err == nil && (obj.Name == "" || obj.Value == nil) {
			t.Fatalf("decoded without a name or a value: %+v", obj)
		}
	})
}
