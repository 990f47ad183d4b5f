package main

// Field selectors as kube-apiserver registers them (pkg/apis/core/v1/conversion.go for the
// accepted labels, pkg/registry/core/*/strategy.go for the values), so that
// `kubectl get events --field-selector involvedObject.name=X` and `kubectl describe` (which lists
// the object's Events by involvedObject.{kind,name,namespace,uid}) work.

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
)

// selectableFields: kind -> (labels accepted besides metadata.name/namespace, the object's values).
var selectableFields = map[string]struct {
	labels []string
	values func(obj runtime.Object) fields.Set
}{
	"Event": {
		[]string{"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
			"involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
			"reason", "reportingComponent", "source", "type"},
		func(obj runtime.Object) fields.Set {
			e := obj.(*corev1.Event)
			source := e.Source.Component
			if source == "" {
				source = e.ReportingController
			}
			return generic.MergeFieldsSets(fields.Set{
				"involvedObject.kind":            e.InvolvedObject.Kind,
				"involvedObject.namespace":       e.InvolvedObject.Namespace,
				"involvedObject.name":            e.InvolvedObject.Name,
				"involvedObject.uid":             string(e.InvolvedObject.UID),
				"involvedObject.apiVersion":      e.InvolvedObject.APIVersion,
				"involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
				"involvedObject.fieldPath":       e.InvolvedObject.FieldPath,
				"reason":                         e.Reason,
				"reportingComponent":             e.ReportingController,
				"source":                         source,
				"type":                           e.Type,
			}, generic.ObjectMetaFieldsSet(&e.ObjectMeta, true))
		},
	},
	"Service": {
		[]string{"spec.clusterIP", "spec.type"},
		func(obj runtime.Object) fields.Set {
			s := obj.(*corev1.Service)
			return generic.MergeFieldsSets(fields.Set{"spec.clusterIP": s.Spec.ClusterIP, "spec.type": string(s.Spec.Type)},
				generic.ObjectMetaFieldsSet(&s.ObjectMeta, true))
		},
	},
	"Node": {
		[]string{"spec.unschedulable"},
		func(obj runtime.Object) fields.Set {
			n := obj.(*corev1.Node)
			return generic.MergeFieldsSets(fields.Set{"spec.unschedulable": fmt.Sprint(n.Spec.Unschedulable)},
				generic.ObjectMetaFieldsSet(&n.ObjectMeta, false))
		},
	},
	"Secret": {
		[]string{"type"},
		func(obj runtime.Object) fields.Set {
			s := obj.(*corev1.Secret)
			return generic.MergeFieldsSets(fields.Set{"type": string(s.Type)}, generic.ObjectMetaFieldsSet(&s.ObjectMeta, true))
		},
	},
	"Namespace": {
		[]string{"status.phase"},
		func(obj runtime.Object) fields.Set {
			n := obj.(*corev1.Namespace)
			return generic.MergeFieldsSets(fields.Set{"status.phase": string(n.Status.Phase)}, generic.ObjectMetaFieldsSet(&n.ObjectMeta, false))
		},
	},
}

func registerFieldSelectors(s *runtime.Scheme) {
	for kind, f := range selectableFields {
		allowed := map[string]bool{"metadata.name": true, "metadata.namespace": kind != "Node" && kind != "Namespace"}
		for _, l := range f.labels {
			allowed[l] = true
		}
		kind := kind
		must(s.AddFieldLabelConversionFunc(corev1.SchemeGroupVersion.WithKind(kind), func(label, value string) (string, string, error) {
			if allowed[label] {
				return label, value, nil
			}
			return "", "", fmt.Errorf("field label not supported: %s", label)
		}))
	}
}

// attrFunc returns the labels and selectable fields of an object of the given kind (nil: only
// metadata.name/namespace, the generic registry's default).
func attrFunc(kind string) func(obj runtime.Object) (labels.Set, fields.Set, error) {
	f, ok := selectableFields[kind]
	if !ok {
		return nil
	}
	return func(obj runtime.Object) (labels.Set, fields.Set, error) {
		m, err := metaOf(obj)
		if err != nil {
			return nil, nil, err
		}
		return labels.Set(m.GetLabels()), f.values(obj), nil
	}
}
