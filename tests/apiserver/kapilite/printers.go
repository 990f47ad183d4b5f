package main

// Server-side table columns for Services, Nodes and Events, as kube-apiserver prints them
// (pkg/printers/internalversion/printers.go, which is not in the packaged libraries): `kubectl get
// svc` shows TYPE, CLUSTER-IP, EXTERNAL-IP (a LoadBalancer's VIP), PORT(S), AGE. The server always
// prints the wide cells; kubectl hides priority-1 columns unless `-o wide`.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

type printer struct {
	columns []metav1.TableColumnDefinition
	row     func(obj runtime.Object) []interface{}
}

func (p printer) ConvertToTable(ctx context.Context, obj runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{}
	opt, _ := tableOptions.(*metav1.TableOptions)
	if opt == nil || !opt.NoHeaders {
		table.ColumnDefinitions = p.columns
	}
	add := func(o runtime.Object) {
		table.Rows = append(table.Rows, metav1.TableRow{Cells: p.row(o), Object: runtime.RawExtension{Object: o}})
	}
	if meta.IsListType(obj) {
		if err := meta.EachListItem(obj, func(o runtime.Object) error { add(o); return nil }); err != nil {
			return nil, err
		}
		if l, err := meta.ListAccessor(obj); err == nil {
			table.ResourceVersion = l.GetResourceVersion()
			table.Continue = l.GetContinue()
			table.RemainingItemCount = l.GetRemainingItemCount()
		}
	} else {
		add(obj)
		if m, err := meta.Accessor(obj); err == nil {
			table.ResourceVersion = m.GetResourceVersion()
		}
	}
	return table, nil
}

func age(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t.Time))
}

func microAge(t metav1.MicroTime) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t.Time))
}

var nameColumn = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]}
var ageColumn = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}

const loadBalancerWidth = 16

func loadBalancerStatusString(s corev1.LoadBalancerStatus, wide bool) string {
	seen := map[string]bool{}
	var ips []string
	for _, in := range s.Ingress {
		v := in.IP
		if v == "" {
			v = in.Hostname
		}
		if v != "" && !seen[v] {
			seen[v] = true
			ips = append(ips, v)
		}
	}
	sort.Strings(ips)
	r := strings.Join(ips, ",")
	if !wide && len(r) > loadBalancerWidth {
		r = r[0:(loadBalancerWidth-3)] + "..."
	}
	return r
}

func serviceExternalIP(s *corev1.Service, wide bool) string {
	switch s.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		if len(s.Spec.ExternalIPs) > 0 {
			return strings.Join(s.Spec.ExternalIPs, ",")
		}
		return "<none>"
	case corev1.ServiceTypeLoadBalancer:
		lb := loadBalancerStatusString(s.Status.LoadBalancer, wide)
		if len(s.Spec.ExternalIPs) > 0 {
			var r []string
			if lb != "" {
				r = append(r, strings.Split(lb, ",")...)
			}
			return strings.Join(append(r, s.Spec.ExternalIPs...), ",")
		}
		if lb != "" {
			return lb
		}
		return "<pending>"
	case corev1.ServiceTypeExternalName:
		return s.Spec.ExternalName
	}
	return "<unknown>"
}

func servicePorts(ports []corev1.ServicePort) string {
	pieces := make([]string, len(ports))
	for i, p := range ports {
		pieces[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		if p.NodePort > 0 {
			pieces[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		}
	}
	return strings.Join(pieces, ",")
}

var servicePrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Type", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["type"]},
		{Name: "Cluster-IP", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["clusterIP"]},
		{Name: "External-IP", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["externalIPs"]},
		{Name: "Port(s)", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["ports"]},
		ageColumn,
		{Name: "Selector", Type: "string", Priority: 1, Description: corev1.ServiceSpec{}.SwaggerDoc()["selector"]},
	},
	row: func(obj runtime.Object) []interface{} {
		s := obj.(*corev1.Service)
		internal := "<none>"
		if len(s.Spec.ClusterIPs) > 0 {
			internal = s.Spec.ClusterIPs[0]
		}
		ports := servicePorts(s.Spec.Ports)
		if ports == "" {
			ports = "<none>"
		}
		return []interface{}{s.Name, string(s.Spec.Type), internal, serviceExternalIP(s, true), ports,
			age(s.CreationTimestamp), labels.FormatLabels(s.Spec.Selector)}
	},
}

func nodeAddress(n *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}

var nodePrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Status", Type: "string", Description: "The status of the node"},
		{Name: "Roles", Type: "string", Description: "The roles of the node"},
		ageColumn,
		{Name: "Version", Type: "string", Description: corev1.NodeSystemInfo{}.SwaggerDoc()["kubeletVersion"]},
		{Name: "Internal-IP", Type: "string", Priority: 1, Description: corev1.NodeStatus{}.SwaggerDoc()["addresses"]},
		{Name: "External-IP", Type: "string", Priority: 1, Description: corev1.NodeStatus{}.SwaggerDoc()["addresses"]},
		{Name: "OS-Image", Type: "string", Priority: 1, Description: corev1.NodeSystemInfo{}.SwaggerDoc()["osImage"]},
		{Name: "Kernel-Version", Type: "string", Priority: 1, Description: corev1.NodeSystemInfo{}.SwaggerDoc()["kernelVersion"]},
		{Name: "Container-Runtime", Type: "string", Priority: 1, Description: corev1.NodeSystemInfo{}.SwaggerDoc()["containerRuntimeVersion"]},
	},
	row: func(obj runtime.Object) []interface{} {
		n := obj.(*corev1.Node)
		var status []string
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					status = append(status, string(c.Type))
				} else {
					status = append(status, "Not"+string(c.Type))
				}
			}
		}
		if len(status) == 0 {
			status = append(status, "Unknown")
		}
		if n.Spec.Unschedulable {
			status = append(status, "SchedulingDisabled")
		}
		roles := map[string]bool{}
		for k, v := range n.Labels {
			switch {
			case strings.HasPrefix(k, "node-role.kubernetes.io/"):
				if r := strings.TrimPrefix(k, "node-role.kubernetes.io/"); r != "" {
					roles[r] = true
				}
			case k == "kubernetes.io/role" && v != "":
				roles[v] = true
			}
		}
		var rl []string
		for r := range roles {
			rl = append(rl, r)
		}
		sort.Strings(rl)
		role := strings.Join(rl, ",")
		if role == "" {
			role = "<none>"
		}
		kernel, osImage, runtimeV := n.Status.NodeInfo.KernelVersion, n.Status.NodeInfo.OSImage, n.Status.NodeInfo.ContainerRuntimeVersion
		if kernel == "" {
			kernel = "<unknown>"
		}
		if osImage == "" {
			osImage = "<unknown>"
		}
		if runtimeV == "" {
			runtimeV = "<unknown>"
		}
		return []interface{}{n.Name, strings.Join(status, ","), role, age(n.CreationTimestamp), n.Status.NodeInfo.KubeletVersion,
			nodeAddress(n, corev1.NodeInternalIP), nodeAddress(n, corev1.NodeExternalIP), osImage, kernel, runtimeV}
	},
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

var eventPrinter = printer{
	columns: []metav1.TableColumnDefinition{
		{Name: "Last Seen", Type: "string", Description: corev1.Event{}.SwaggerDoc()["lastTimestamp"]},
		{Name: "Type", Type: "string", Description: corev1.Event{}.SwaggerDoc()["type"]},
		{Name: "Reason", Type: "string", Description: corev1.Event{}.SwaggerDoc()["reason"]},
		{Name: "Object", Type: "string", Description: corev1.Event{}.SwaggerDoc()["involvedObject"]},
		{Name: "Subobject", Type: "string", Priority: 1, Description: corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]},
		{Name: "Source", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["source"]},
		{Name: "Message", Type: "string", Description: corev1.Event{}.SwaggerDoc()["message"]},
		{Name: "First Seen", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["firstTimestamp"]},
		{Name: "Count", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["count"]},
		{Name: "Name", Type: "string", Priority: 1, Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	},
	row: func(obj runtime.Object) []interface{} {
		e := obj.(*corev1.Event)
		first := age(e.FirstTimestamp)
		if e.FirstTimestamp.IsZero() {
			first = microAge(e.EventTime)
		}
		last := age(e.LastTimestamp)
		if e.LastTimestamp.IsZero() {
			last = first
		}
		count := e.Count
		if e.Series != nil {
			last = microAge(e.Series.LastObservedTime)
			count = e.Series.Count
		} else if count == 0 {
			count = 1
		}
		target := strings.ToLower(e.InvolvedObject.Kind)
		if e.InvolvedObject.Name != "" {
			target += "/" + e.InvolvedObject.Name
		}
		source := firstNonEmpty(e.Source.Component, e.ReportingController)
		if inst := firstNonEmpty(e.Source.Host, e.ReportingInstance); inst != "" {
			source += ", " + inst
		}
		return []interface{}{last, e.Type, e.Reason, target, e.InvolvedObject.FieldPath, source,
			strings.TrimSpace(e.Message), first, int64(count), e.Name}
	},
}
