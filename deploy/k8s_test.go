package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

var overlays = []string{"k8s/base", "k8s/overlays/dev", "k8s/overlays/prod"}

// kinds maps apiVersion/kind to a new object of its Go type; anything else is an error.
var kinds = map[string]func() any{
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                               func() any { return &corev1.Secret{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                     func() any { return &appsv1.StatefulSet{} },
	"autoscaling/v2/HorizontalPodAutoscaler":  func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return &networkingv1.NetworkPolicy{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
}

// manifests is one kustomize build, decoded.
type manifests struct {
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	services   []*corev1.Service
	workloads  []workload
	hpas       []*autoscalingv2.HorizontalPodAutoscaler
	pdbs       []*policyv1.PodDisruptionBudget
	netpols    []*networkingv1.NetworkPolicy
	monitors   []*monitoringv1.ServiceMonitor
	rules      []*monitoringv1.PrometheusRule
}

type workload struct {
	kind, name string
	template   corev1.PodTemplateSpec
}

// build runs kustomize on dir and decodes every object strictly into its Kubernetes type.
func build(t *testing.T, dir string) *manifests {
	t.Helper()
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	m := &manifests{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for _, r := range rm.Resources() {
		key := r.GetApiVersion() + "/" + r.GetKind()
		mk, ok := kinds[key]
		if !ok {
			t.Errorf("%s: %s %s: no Go type known for %s", dir, r.GetKind(), r.GetName(), key)
			continue
		}
		raw, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		obj := mk()
		if err := decodeStrict(raw, obj); err != nil {
			t.Errorf("%s: %s %s: %v", dir, r.GetKind(), r.GetName(), err)
			continue
		}
		switch o := obj.(type) {
		case *corev1.ConfigMap:
			m.configMaps[o.Name] = o
		case *corev1.Secret:
			m.secrets[o.Name] = o
		case *corev1.Service:
			m.services = append(m.services, o)
		case *appsv1.Deployment:
			m.workloads = append(m.workloads, workload{"Deployment", o.Name, o.Spec.Template})
		case *appsv1.StatefulSet:
			m.workloads = append(m.workloads, workload{"StatefulSet", o.Name, o.Spec.Template})
		case *autoscalingv2.HorizontalPodAutoscaler:
			m.hpas = append(m.hpas, o)
		case *policyv1.PodDisruptionBudget:
			m.pdbs = append(m.pdbs, o)
		case *networkingv1.NetworkPolicy:
			m.netpols = append(m.netpols, o)
		case *monitoringv1.ServiceMonitor:
			m.monitors = append(m.monitors, o)
		case *monitoringv1.PrometheusRule:
			m.rules = append(m.rules, o)
		}
	}
	return m
}

func decodeStrict(raw []byte, obj any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(obj)
}

func TestKustomizeOverlays(t *testing.T) {
	for _, dir := range overlays {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m := build(t, dir)
			for _, err := range m.check() {
				t.Error(err)
			}
			if len(m.workloads) != 3 || len(m.monitors) != 1 || len(m.rules) != 1 || len(m.pdbs) != 3 || len(m.hpas) != 2 {
				t.Errorf("%d workloads, %d ServiceMonitors, %d PrometheusRules, %d PDBs, %d HPAs; want 3, 1, 1, 3, 2",
					len(m.workloads), len(m.monitors), len(m.rules), len(m.pdbs), len(m.hpas))
			}
			t.Run("rules", func(t *testing.T) { checkPrometheusRule(t, m) })
		})
	}
}

// TestKustomizeCheckCatchesWrongVariable shows the manifest check fails on a ConfigMap key no
// binary reads.
func TestKustomizeCheckCatchesWrongVariable(t *testing.T) {
	m := build(t, "k8s/base")
	m.configMaps["bcosdata-export"].Data["EXPORT_KAFKA_BROKER"] = "kafka:9092"
	if errs := m.check(); !containsErr(errs, "EXPORT_KAFKA_BROKER") {
		t.Fatalf("check on a wrong variable: %v", errs)
	}
	m = build(t, "k8s/base")
	m.workloads[0].template.Spec.Containers[0].Args = []string{"-no-such-flag"}
	if errs := m.check(); !containsErr(errs, "no-such-flag") {
		t.Fatalf("check on a wrong argument: %v", errs)
	}
}

// checkMountedFiles reports settings naming a file under /etc/bcosdata (certificates, the
// auth policy, keys) that no Secret or ConfigMap volume of the pod provides.
func (m *manifests) checkMountedFiles(where string, pod corev1.PodSpec, c corev1.Container, env map[string]string) []error {
	var errs []error
	for k, v := range env {
		if !strings.HasPrefix(v, "/etc/bcosdata/") {
			continue
		}
		dir, file := filepath.Split(v)
		dir = strings.TrimSuffix(dir, "/")
		vol := ""
		for _, vm := range c.VolumeMounts {
			if vm.MountPath == dir {
				vol = vm.Name
			}
		}
		var keys map[string]bool
		for _, pv := range pod.Volumes {
			if pv.Name != vol || vol == "" {
				continue
			}
			keys = map[string]bool{}
			switch {
			case pv.Secret != nil:
				if s, ok := m.secrets[pv.Secret.SecretName]; ok {
					for key := range s.StringData {
						keys[key] = true
					}
					for key := range s.Data {
						keys[key] = true
					}
				}
			case pv.ConfigMap != nil:
				if cm, ok := m.configMaps[pv.ConfigMap.Name]; ok {
					for key := range cm.Data {
						keys[key] = true
					}
				}
			}
		}
		if !keys[file] {
			errs = append(errs, fmt.Errorf("%s: %s=%s, but no Secret or ConfigMap volume mounted at %s has the key %s", where, k, v, dir, file))
		}
	}
	return errs
}

// TestAuthSecretHoldsSamplePolicy: the policy the Kubernetes Secret carries is the one
// deploy/auth/policy.yaml documents and the acceptance test holds every RPC to.
func TestAuthSecretHoldsSamplePolicy(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("auth", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := build(t, "k8s/overlays/prod")
	s, ok := m.secrets["bcosdata-auth"]
	if !ok {
		t.Fatal("no Secret bcosdata-auth")
	}
	if got := s.StringData["policy.yaml"]; got != string(want) {
		t.Errorf("Secret bcosdata-auth policy.yaml differs from deploy/auth/policy.yaml; copy it over")
	}
	// Prod mounts what it names: check() reports a path no volume provides; make sure it would.
	m.configMaps["bcosdata-export"].Data["EXPORT_AUTH_TOKENS"] = "/etc/bcosdata/auth/no-such-file"
	if errs := m.check(); !containsErr(errs, "no-such-file") {
		t.Errorf("check on an unmounted file: %v", errs)
	}
}

// check returns every inconsistency between the objects and the binaries they run.
func (m *manifests) check() []error {
	var errs []error
	containerPorts := map[int32]bool{}
	for _, w := range m.workloads {
		errs = append(errs, m.checkWorkload(w, containerPorts)...)
	}
	for _, s := range m.services {
		w, ok := m.selects(s.Spec.Selector)
		if !ok {
			errs = append(errs, fmt.Errorf("Service %s selects no workload", s.Name))
			continue
		}
		for _, p := range s.Spec.Ports {
			if !hasPortName(w.template.Spec.Containers, p.TargetPort.String()) {
				errs = append(errs, fmt.Errorf("Service %s port %s: %s has no container port %s", s.Name, p.Name, w.name, p.TargetPort.String()))
			}
		}
	}
	for _, h := range m.hpas {
		if _, ok := m.workload(h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name); !ok {
			errs = append(errs, fmt.Errorf("HPA %s scales %s %s, which does not exist", h.Name, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name))
		}
	}
	// export's replicas share the blocks topic's partitions: more replicas than that stay idle.
	if cm, ok := m.configMaps["bcosdata-stash"]; ok {
		partitions, err := strconv.Atoi(cm.Data["STASH_PARTITIONS"])
		for _, h := range m.hpas {
			if h.Spec.ScaleTargetRef.Name == "bcosdata-export" && (err != nil || int(h.Spec.MaxReplicas) > partitions) {
				errs = append(errs, fmt.Errorf("HPA %s scales export to %d replicas, beyond the blocks topic's STASH_PARTITIONS %q", h.Name, h.Spec.MaxReplicas, cm.Data["STASH_PARTITIONS"]))
			}
		}
	}
	for _, p := range m.pdbs {
		if _, ok := m.selects(p.Spec.Selector.MatchLabels); !ok {
			errs = append(errs, fmt.Errorf("PodDisruptionBudget %s selects no workload", p.Name))
		}
	}
	for _, np := range m.netpols {
		for _, in := range np.Spec.Ingress {
			for _, p := range in.Ports {
				if p.Port != nil && !containerPorts[p.Port.IntVal] {
					errs = append(errs, fmt.Errorf("NetworkPolicy %s opens port %s, where no container listens", np.Name, p.Port.String()))
				}
			}
		}
	}
	for _, sm := range m.monitors {
		errs = append(errs, m.checkServiceMonitor(sm)...)
	}
	return errs
}

func (m *manifests) checkWorkload(w workload, containerPorts map[int32]bool) []error {
	var errs []error
	where := w.kind + " " + w.name
	for _, c := range w.template.Spec.Containers {
		image := strings.SplitN(c.Image, ":", 2)[0]
		b, ok := binaries[strings.TrimPrefix(image, "bcosdata/")]
		if !ok || !strings.HasPrefix(image, "bcosdata/") {
			errs = append(errs, fmt.Errorf("%s: image %s is not one of the Dockerfile's targets", where, c.Image))
			continue
		}
		if len(c.Command) > 0 {
			errs = append(errs, fmt.Errorf("%s: command overrides the image's entrypoint %s", where, b.name))
		}
		if err := b.checkArgs(c.Args); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		env := map[string]string{}
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef == nil {
				errs = append(errs, fmt.Errorf("%s: envFrom other than a ConfigMap", where))
				continue
			}
			cm, ok := m.configMaps[ef.ConfigMapRef.Name]
			if !ok {
				errs = append(errs, fmt.Errorf("%s: ConfigMap %s does not exist", where, ef.ConfigMapRef.Name))
				continue
			}
			for k, v := range cm.Data {
				env[k] = v
			}
		}
		for _, e := range c.Env {
			env[e.Name] = e.Value
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				ref := e.ValueFrom.SecretKeyRef
				s, ok := m.secrets[ref.Name]
				if _, has := s.StringData[ref.Key]; !ok || (!has && s.Data[ref.Key] == nil) {
					errs = append(errs, fmt.Errorf("%s: %s from Secret %s key %s, which does not exist", where, e.Name, ref.Name, ref.Key))
				}
			}
		}
		for k, v := range env {
			if err := b.checkEnv(k, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
		}
		if err := b.checkServer(env); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		errs = append(errs, m.checkMountedFiles(where, w.template.Spec, c, env)...)
		// Each named port is where the binary listens, by its *_ADDR setting.
		for _, p := range c.Ports {
			containerPorts[p.ContainerPort] = true
			addr := env[b.envPrefix+"_"+strings.ToUpper(p.Name)+"_ADDR"]
			_, port, err := net.SplitHostPort(addr)
			if err != nil || port != strconv.Itoa(int(p.ContainerPort)) {
				errs = append(errs, fmt.Errorf("%s: container port %s %d, but %s_%s_ADDR is %q", where, p.Name, p.ContainerPort, b.envPrefix, strings.ToUpper(p.Name), addr))
			}
		}
		for probe, want := range map[*corev1.Probe]string{c.LivenessProbe: "/livez", c.ReadinessProbe: "/readyz"} {
			if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port.String() != "admin" {
				errs = append(errs, fmt.Errorf("%s: want an HTTP probe of %s on port admin", where, want))
			}
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
			errs = append(errs, fmt.Errorf("%s: no CPU request or memory limit", where))
		}
	}
	return errs
}

func (m *manifests) checkServiceMonitor(sm *monitoringv1.ServiceMonitor) []error {
	var errs []error
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil {
		return []error{fmt.Errorf("ServiceMonitor %s: %w", sm.Name, err)}
	}
	n := 0
	for _, s := range m.services {
		if !sel.Matches(labels.Set(s.Labels)) {
			continue
		}
		n++
		job := s.Labels[sm.Spec.JobLabel]
		if !strings.HasPrefix(job, "bcosdata-") {
			errs = append(errs, fmt.Errorf("ServiceMonitor %s: Service %s has job label %q; the alerts match job=~\"bcosdata-.*\"", sm.Name, s.Name, job))
		}
		for _, ep := range sm.Spec.Endpoints {
			found := false
			for _, p := range s.Spec.Ports {
				found = found || p.Name == ep.Port
			}
			if !found {
				errs = append(errs, fmt.Errorf("ServiceMonitor %s: Service %s has no port %s", sm.Name, s.Name, ep.Port))
			}
		}
	}
	if n != 3 {
		errs = append(errs, fmt.Errorf("ServiceMonitor %s selects %d Services, want stash, export and reconcile", sm.Name, n))
	}
	return errs
}

func (m *manifests) selects(sel map[string]string) (workload, bool) {
	for _, w := range m.workloads {
		if len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(w.template.Labels)) {
			return w, true
		}
	}
	return workload{}, false
}

func (m *manifests) workload(kind, name string) (workload, bool) {
	for _, w := range m.workloads {
		if w.kind == kind && w.name == name {
			return w, true
		}
	}
	return workload{}, false
}

func hasPortName(cs []corev1.Container, name string) bool {
	for _, c := range cs {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

// checkPrometheusRule parses the PrometheusRule's groups with Prometheus' parser and requires
// them equal to deploy/prometheus/alerts.yml, so compose and Kubernetes alert alike.
func checkPrometheusRule(t *testing.T, m *manifests) {
	want, err := os.ReadFile(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.rules {
		raw, err := yaml.Marshal(r.Spec)
		if err != nil {
			t.Fatal(err)
		}
		got := parseRules(t, "PrometheusRule "+r.Name, raw)
		if w := parseRules(t, alertRules, want); !reflect.DeepEqual(got, w) {
			t.Errorf("PrometheusRule %s differs from %s", r.Name, alertRules)
		}
	}
}
