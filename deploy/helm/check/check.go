package check

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/strvals"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// KubeVersion is the Kubernetes version the chart is rendered for: the
// oldest the chart supports (Chart.yaml kubeVersion).
const KubeVersion = "v1.28.0"

// Object is one rendered manifest decoded into its API type.
type Object struct {
	Source string // the template it came from
	Kind   string
	Name   string
	Value  any // *appsv1.StatefulSet, *corev1.Service, ...
}

// newObject returns an empty value of the API type of apiVersion and kind,
// or an error for a kind the chart is not expected to render.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + " " + kind {
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "v1 Service":
		return &corev1.Service{}, nil
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "batch/v1 Job":
		return &batchv1.Job{}, nil
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}, nil
	}
	return nil, fmt.Errorf("unexpected object %s %s: add its API type to the check", apiVersion, kind)
}

// Decode decodes one YAML manifest strictly into its API type: a field the
// type does not have, or a field given twice, is an error.
func Decode(source string, manifest []byte) (Object, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(manifest, &tm); err != nil {
		return Object{}, fmt.Errorf("%s: %w", source, err)
	}
	obj, err := newObject(tm.APIVersion, tm.Kind)
	if err != nil {
		return Object{}, fmt.Errorf("%s: %w", source, err)
	}
	if err := yaml.UnmarshalStrict(manifest, obj); err != nil {
		return Object{}, fmt.Errorf("%s: %s %s: %w", source, tm.APIVersion, tm.Kind, err)
	}
	var meta struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := yaml.Unmarshal(manifest, &meta); err != nil {
		return Object{}, fmt.Errorf("%s: %w", source, err)
	}
	if meta.Metadata.Name == "" {
		return Object{}, fmt.Errorf("%s: %s without metadata.name", source, tm.Kind)
	}
	return Object{Source: source, Kind: tm.Kind, Name: meta.Metadata.Name, Value: obj}, nil
}

// Render renders the chart at dir as `helm template` does, with the values
// of the chart overridden by sets (helm's --set syntax, one per element),
// and returns the manifests by template, in a stable order.
func Render(dir, release, namespace string, sets []string) (map[string]string, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, err
	}
	vals := map[string]any{}
	for _, s := range sets {
		if err := strvals.ParseInto(s, vals); err != nil {
			return nil, fmt.Errorf("--set %s: %w", s, err)
		}
	}
	kv, err := chartutil.ParseKubeVersion(KubeVersion)
	if err != nil {
		return nil, err
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.ClientOnly = true
	install.DryRun = true
	install.Replace = true
	install.IncludeCRDs = true
	install.ReleaseName = release
	install.Namespace = namespace
	install.KubeVersion = kv
	rel, err := install.Run(ch, vals)
	if err != nil {
		return nil, err
	}
	return releaseutil.SplitManifests(rel.Manifest), nil
}

// DecodeAll decodes every manifest of Render's result strictly, ordered by
// kind and name.
func DecodeAll(manifests map[string]string) ([]Object, error) {
	var out []Object
	var errs []string
	names := keys(manifests)
	sort.Sort(releaseutil.BySplitManifestsOrder(names))
	for _, key := range names {
		doc := manifests[key]
		source := key
		// Helm heads each document with "# Source: <template>".
		if first, _, ok := strings.Cut(doc, "\n"); ok && strings.HasPrefix(first, "# Source: ") {
			source = strings.TrimPrefix(first, "# Source: ")
		}
		if len(bytes.TrimSpace([]byte(doc))) == 0 {
			continue
		}
		obj, err := Decode(source, []byte(doc))
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out = append(out, obj)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%d rendered objects do not decode strictly:\n%s", len(errs), strings.Join(errs, "\n"))
	}
	slices.SortFunc(out, func(a, b Object) int {
		return strings.Compare(a.Kind+"/"+a.Name, b.Kind+"/"+b.Name)
	})
	return out, nil
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Lint runs helm lint on the chart at dir with the values of sets and
// returns its messages of severity warning and above as errors.
func Lint(dir string, sets []string) error {
	vals := map[string]any{}
	for _, s := range sets {
		if err := strvals.ParseInto(s, vals); err != nil {
			return fmt.Errorf("--set %s: %w", s, err)
		}
	}
	lint := action.NewLint()
	lint.Strict = true
	res := lint.Run([]string{dir}, vals)
	var errs []string
	for _, m := range res.Messages {
		if m.Severity >= support.WarningSev {
			errs = append(errs, m.Error())
		}
	}
	for _, err := range res.Errors {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("helm lint %s: %s", dir, strings.Join(slices.Compact(errs), "; "))
	}
	return nil
}
