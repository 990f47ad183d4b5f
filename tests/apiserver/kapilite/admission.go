package main

// admissionregistration.k8s.io/v1 webhook configurations, so the real ValidatingAdmissionWebhook
// and MutatingAdmissionWebhook plugins (k8s.io/apiserver) find their hooks. The defaults are
// kube-apiserver's (pkg/apis/admissionregistration/v1/defaults.go, not packaged): they matter, a
// nil namespaceSelector would match no namespace at all.

import (
	"net/url"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func defaultRules(rules []admissionregistrationv1.RuleWithOperations) {
	for i := range rules {
		if rules[i].Scope == nil {
			s := admissionregistrationv1.AllScopes
			rules[i].Scope = &s
		}
	}
}

func defaultHookCommon(fp **admissionregistrationv1.FailurePolicyType, mp **admissionregistrationv1.MatchPolicyType,
	ns, obj **metav1.LabelSelector, timeout **int32, cc *admissionregistrationv1.WebhookClientConfig) {
	if *fp == nil {
		p := admissionregistrationv1.Fail
		*fp = &p
	}
	if *mp == nil {
		p := admissionregistrationv1.Equivalent
		*mp = &p
	}
	if *ns == nil {
		*ns = &metav1.LabelSelector{}
	}
	if *obj == nil {
		*obj = &metav1.LabelSelector{}
	}
	if *timeout == nil {
		t := int32(10)
		*timeout = &t
	}
	if cc.Service != nil && cc.Service.Port == nil {
		p := int32(443)
		cc.Service.Port = &p
	}
}

func defaultValidatingWebhooks(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
	for i := range c.Webhooks {
		h := &c.Webhooks[i]
		defaultHookCommon(&h.FailurePolicy, &h.MatchPolicy, &h.NamespaceSelector, &h.ObjectSelector, &h.TimeoutSeconds, &h.ClientConfig)
		defaultRules(h.Rules)
	}
}

func defaultMutatingWebhooks(c *admissionregistrationv1.MutatingWebhookConfiguration) {
	for i := range c.Webhooks {
		h := &c.Webhooks[i]
		defaultHookCommon(&h.FailurePolicy, &h.MatchPolicy, &h.NamespaceSelector, &h.ObjectSelector, &h.TimeoutSeconds, &h.ClientConfig)
		defaultRules(h.Rules)
		if h.ReinvocationPolicy == nil {
			p := admissionregistrationv1.NeverReinvocationPolicy
			h.ReinvocationPolicy = &p
		}
	}
}

// The checks kube-apiserver makes that keep the plugins from calling nowhere.
func validateHook(p *field.Path, name string, cc admissionregistrationv1.WebhookClientConfig,
	se *admissionregistrationv1.SideEffectClass, versions []string) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	switch {
	case cc.URL == nil && cc.Service == nil:
		errs = append(errs, field.Required(p.Child("clientConfig"), "exactly one of url or service is required"))
	case cc.URL != nil && cc.Service != nil:
		errs = append(errs, field.Required(p.Child("clientConfig"), "exactly one of url or service is required"))
	case cc.URL != nil:
		if u, err := url.Parse(*cc.URL); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, field.Invalid(p.Child("clientConfig", "url"), *cc.URL, "'https' is the only allowed URL scheme"))
		}
	}
	if se == nil {
		errs = append(errs, field.Required(p.Child("sideEffects"), "must be one of None, NoneOnDryRun"))
	} else if *se != admissionregistrationv1.SideEffectClassNone && *se != admissionregistrationv1.SideEffectClassNoneOnDryRun {
		errs = append(errs, field.NotSupported(p.Child("sideEffects"), *se, []string{"None", "NoneOnDryRun"}))
	}
	if len(versions) == 0 {
		errs = append(errs, field.Required(p.Child("admissionReviewVersions"), "must specify one of v1, v1beta1"))
	}
	return errs
}

func validateValidatingWebhooks(obj runtime.Object) field.ErrorList {
	var errs field.ErrorList
	for i, h := range obj.(*admissionregistrationv1.ValidatingWebhookConfiguration).Webhooks {
		errs = append(errs, validateHook(field.NewPath("webhooks").Index(i), h.Name, h.ClientConfig, h.SideEffects, h.AdmissionReviewVersions)...)
	}
	return errs
}

func validateMutatingWebhooks(obj runtime.Object) field.ErrorList {
	var errs field.ErrorList
	for i, h := range obj.(*admissionregistrationv1.MutatingWebhookConfiguration).Webhooks {
		errs = append(errs, validateHook(field.NewPath("webhooks").Index(i), h.Name, h.ClientConfig, h.SideEffects, h.AdmissionReviewVersions)...)
	}
	return errs
}
