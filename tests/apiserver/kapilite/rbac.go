package main

// Authorization by RBAC. kube-apiserver's RBAC authorizer
// (k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac) is not among Debian's packaged sources (there
// is no golang-k8s-kubernetes-dev), so this is the closest real mechanism: the same
// rbac.authorization.k8s.io/v1 objects, served and stored here, evaluated per request with the
// packaged Kubernetes RBAC rule matcher (k8s.io/component-helpers/auth/rbac/validation.Covers:
// verbs, API groups, resources, "resource/subresource", "*/subresource", resourceNames,
// nonResourceURLs with a trailing "*"), after the real authorizer's binding walk: every
// ClusterRoleBinding, then the RoleBindings of the request's namespace (a RoleBinding may refer to
// a ClusterRole), subjects matched as User, Group or ServiceAccount
// (system:serviceaccount:NS:NAME). No opinion means 403. system:masters is allowed everything, as
// on a real cluster; the bootstrap policy the real server creates for discovery is created at start.

import (
	"context"
	"fmt"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/component-helpers/auth/rbac/validation"
)

type rbacAuthorizer struct {
	roles  rbaclisters.RoleLister
	croles rbaclisters.ClusterRoleLister
	rbs    rbaclisters.RoleBindingLister
	crbs   rbaclisters.ClusterRoleBindingLister
}

func newRBACAuthorizer(f informers.SharedInformerFactory) *rbacAuthorizer {
	r := f.Rbac().V1()
	// Informer() registers them with the factory, which the server starts after it is up.
	r.Roles().Informer()
	r.ClusterRoles().Informer()
	r.RoleBindings().Informer()
	r.ClusterRoleBindings().Informer()
	return &rbacAuthorizer{roles: r.Roles().Lister(), croles: r.ClusterRoles().Lister(),
		rbs: r.RoleBindings().Lister(), crbs: r.ClusterRoleBindings().Lister()}
}

func appliesTo(u user.Info, s rbacv1.Subject, bindingNamespace string) bool {
	switch s.Kind {
	case rbacv1.UserKind:
		return u.GetName() == s.Name
	case rbacv1.GroupKind:
		return slices.Contains(u.GetGroups(), s.Name)
	case rbacv1.ServiceAccountKind:
		ns := bindingNamespace
		if s.Namespace != "" {
			ns = s.Namespace
		}
		return ns != "" && u.GetName() == serviceaccount.MakeUsername(ns, s.Name)
	}
	return false
}

func (a *rbacAuthorizer) rules(ref rbacv1.RoleRef, namespace string) []rbacv1.PolicyRule {
	switch ref.Kind {
	case "ClusterRole":
		if r, err := a.croles.Get(ref.Name); err == nil {
			return r.Rules
		}
	case "Role":
		if namespace != "" {
			if r, err := a.roles.Roles(namespace).Get(ref.Name); err == nil {
				return r.Rules
			}
		}
	}
	return nil
}

// requested is the request as one RBAC rule with one verb, one group, one resource, one name.
func requested(attr authorizer.Attributes) rbacv1.PolicyRule {
	if !attr.IsResourceRequest() {
		return rbacv1.PolicyRule{Verbs: []string{attr.GetVerb()}, NonResourceURLs: []string{attr.GetPath()}}
	}
	res := attr.GetResource()
	if attr.GetSubresource() != "" {
		res += "/" + attr.GetSubresource()
	}
	r := rbacv1.PolicyRule{Verbs: []string{attr.GetVerb()}, APIGroups: []string{attr.GetAPIGroup()}, Resources: []string{res}}
	if attr.GetName() != "" {
		r.ResourceNames = []string{attr.GetName()}
	}
	return r
}

func (a *rbacAuthorizer) Authorize(ctx context.Context, attr authorizer.Attributes) (authorizer.Decision, string, error) {
	u := attr.GetUser()
	if u == nil {
		return authorizer.DecisionNoOpinion, "no user", nil
	}
	want := []rbacv1.PolicyRule{requested(attr)}
	crbs, err := a.crbs.List(labels.Everything())
	if err != nil {
		return authorizer.DecisionNoOpinion, "", err
	}
	for _, b := range crbs {
		for _, s := range b.Subjects {
			if appliesTo(u, s, "") {
				if ok, _ := validation.Covers(a.rules(b.RoleRef, ""), want); ok {
					return authorizer.DecisionAllow, fmt.Sprintf("RBAC: allowed by ClusterRoleBinding %q of ClusterRole %q", b.Name, b.RoleRef.Name), nil
				}
			}
		}
	}
	if ns := attr.GetNamespace(); ns != "" {
		rbs, err := a.rbs.RoleBindings(ns).List(labels.Everything())
		if err != nil {
			return authorizer.DecisionNoOpinion, "", err
		}
		for _, b := range rbs {
			for _, s := range b.Subjects {
				if appliesTo(u, s, ns) {
					if ok, _ := validation.Covers(a.rules(b.RoleRef, ns), want); ok {
						return authorizer.DecisionAllow, fmt.Sprintf("RBAC: allowed by RoleBinding %q of %s %q to %s %q", b.Name+"/"+ns, b.RoleRef.Kind, b.RoleRef.Name, s.Kind, s.Name), nil
					}
				}
			}
		}
	}
	return authorizer.DecisionNoOpinion, "", nil
}

// bootstrapRBAC creates the part of kube-apiserver's bootstrap policy that every client needs
// (plugin/pkg/auth/authorizer/rbac/bootstrappolicy): discovery and health for authenticated users,
// cluster-admin for system:masters.
func bootstrapRBAC(ctx context.Context, cs kubernetes.Interface) error {
	read := []string{"get"}
	roles := []rbacv1.ClusterRole{
		{ObjectMeta: metav1.ObjectMeta{Name: "cluster-admin"}, Rules: []rbacv1.PolicyRule{
			{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
			{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:discovery"}, Rules: []rbacv1.PolicyRule{{Verbs: read, NonResourceURLs: []string{
			"/livez", "/readyz", "/healthz", "/version", "/version/", "/openapi", "/openapi/*", "/api", "/api/*", "/apis", "/apis/*"}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:public-info-viewer"}, Rules: []rbacv1.PolicyRule{{Verbs: read, NonResourceURLs: []string{
			"/livez", "/readyz", "/healthz", "/version", "/version/"}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:basic-user"}, Rules: []rbacv1.PolicyRule{
			{Verbs: []string{"create"}, APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"selfsubjectaccessreviews", "selfsubjectrulesreviews"}},
			{Verbs: []string{"create"}, APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"selfsubjectreviews"}}}},
	}
	group := func(g string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: g}
	}
	bindings := []rbacv1.ClusterRoleBinding{
		{ObjectMeta: metav1.ObjectMeta{Name: "cluster-admin"}, Subjects: []rbacv1.Subject{group(user.SystemPrivilegedGroup)}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:discovery"}, Subjects: []rbacv1.Subject{group(user.AllAuthenticated)}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:public-info-viewer"}, Subjects: []rbacv1.Subject{group(user.AllAuthenticated), group(user.AllUnauthenticated)}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:basic-user"}, Subjects: []rbacv1.Subject{group(user.AllAuthenticated)}},
	}
	for _, r := range roles {
		r.Labels = map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"}
		if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &r, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	for _, b := range bindings {
		b.Labels = map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"}
		b.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: b.Name}
		if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &b, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}
