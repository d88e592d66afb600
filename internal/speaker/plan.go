package speaker

import (
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/rendezvous"
)

// Withdraw reasons: why this node does not announce a Service. The MetalLB ones
// keep MetalLB's spelling (they appear in logs only).
const (
	ReasonNoIPAllocated               = "noIPAllocated"
	ReasonIPNotAllowed                = "ipNotAllowed"
	ReasonNoMatchingAdvertisement     = "noMatchingAdvertisement"
	ReasonNoEndpoints                 = "noEndpoints"
	ReasonNoLocalEndpoints            = "noLocalEndpoints"
	ReasonNodeNetworkUnavailable      = "nodeNetworkUnavailable"
	ReasonNodeLabeledExcludeBalancers = "nodeLabeledExcludeBalancers"
	ReasonNotOwner                    = "notOwner"
	// ironlb's own, more precise than MetalLB's catch-all notOwner.
	ReasonNodeNotFound       = "nodeNotFound"        // no Node object for this speaker
	ReasonNodeNotSelected    = "nodeNotSelected"     // no matching ad selects this node
	ReasonNoMatchingIface    = "noMatchingInterface" // the matching ads name interfaces this node lacks (or none is up)
	ReasonNotInQuorum        = "notInQuorum"         // liveness says stop
	ReasonSharedIPConflict   = "sharedIPConflict"    // Services sharing the IP have no common candidate
	ReasonNoAliveCandidate   = "noAliveCandidate"    // eligible nodes exist but none is alive
	excludeBalancersLabelKey = corev1.LabelNodeExcludeBalancers
)

// Service is what the decision needs of a LoadBalancer Service.
type Service struct {
	Namespace, Name string
	Labels          map[string]string
	// IPs are status.loadBalancer.ingress IPs, in order; the first decides.
	IPs []netip.Addr
	// Local is externalTrafficPolicy: Local.
	Local bool
	// ServingNodes are the nodes with an endpoint that can serve (ready nil or
	// true, or serving true).
	ServingNodes map[string]bool
	// Serving: at least one endpoint anywhere can serve (it may have no node).
	Serving bool
}

// Key is namespace/name.
func (s *Service) Key() string { return s.Namespace + "/" + s.Name }

// Node is what the decision needs of a Node.
type Node struct {
	Name               string
	Labels             map[string]string
	NetworkUnavailable bool
	// Interfaces are the eligible interfaces the node's speaker published
	// (InterfacesKnown). When unknown (speaker never published, e.g. MetalLB
	// in a mixed cluster) the node is assumed to have every interface.
	Interfaces      []string
	InterfacesKnown bool
}

// Config is everything static (not liveness) that the decision depends on.
type Config struct {
	Self     string
	Services []Service
	Nodes    []Node
	// Pools and Ads come from internal/config, which the controller reads
	// too: both agree on which pool an IP belongs to.
	Pools           config.Pools
	Ads             []config.L2Ad
	IgnoreExcludeLB bool
}

// ServiceResult is the decision for one Service, as this node sees it.
type ServiceResult struct {
	Namespace, Name string
	IPs             []netip.Addr
	// Node announces the Service ("" when nobody can).
	Node string
	// Interfaces the Service is announced on when Node is this node; nil means
	// every eligible interface.
	Interfaces []string
	// Reason this node does not announce it; "" when it does.
	Reason string
}

// Key is namespace/name.
func (r *ServiceResult) Key() string { return r.Namespace + "/" + r.Name }

// Result is what this node does.
type Result struct {
	// Owned is what to pass to the announcer: IP -> interfaces (nil = all).
	Owned map[netip.Addr][]string
	// Services, sorted by key, one per Service with ingress IPs or a reason.
	Services []ServiceResult
}

// Plan is the static part of the decision: per shared IP, the nodes that may
// announce it. Deciding for a new liveness view only filters these lists by the
// alive set and elects, so it needs no Kubernetes data and no API calls.
// Candidate lists are shared: every Service whose IP matches the same
// advertisements (and, with ETP Local, the same endpoint nodes) points at one
// list, so a cluster with one pool and a thousand nodes keeps one list of a
// thousand names, not one per Service, and elects all its IPs in one batch.
type Plan struct {
	self     string
	groups   []group
	services []svcPlan
	sets     []*candSet
}

// candSet is a sorted list of candidate nodes, shared between Services.
type candSet struct {
	nodes []string
	has   map[string]bool
	idx   int // position in Plan.sets
}

func newCandSet(nodes []string) *candSet {
	c := &candSet{nodes: nodes, has: make(map[string]bool, len(nodes))}
	for _, n := range nodes {
		c.has[n] = true
	}
	return c
}

func (c *candSet) contains(n string) bool { return c != nil && c.has[n] }

type group struct {
	ip      netip.Addr   // the election key: the lowest first ingress IP of the members
	ips     []netip.Addr // every IP of every member Service
	members []int        // indices into services
	cands   *candSet     // nil: nobody can announce
	ifaces  []string     // this node's interfaces for the group, nil = all
}

type svcPlan struct {
	svc    *Service
	reason string   // static reason this node cannot announce ("" = it may)
	cands  *candSet // nil when none
	ifaces []string // this node's interfaces for it, nil = all
}

// adSetInfo is what a set of matching advertisements allows.
type adSetInfo struct {
	cands      *candSet // nodes fitting any of the ads (nil: none)
	selfReason string   // why this node fits none of them ("" = it fits)
	selfIfaces []string
}

// NewPlan computes the candidates of every Service from cfg.
func NewPlan(cfg *Config) *Plan {
	nodes := make(map[string]*Node, len(cfg.Nodes))
	nodeNames := make([]string, 0, len(cfg.Nodes))
	for i := range cfg.Nodes {
		nodes[cfg.Nodes[i].Name] = &cfg.Nodes[i]
		nodeNames = append(nodeNames, cfg.Nodes[i].Name)
	}
	sort.Strings(nodeNames)
	// Per ad and node: does the ad let the node announce, on which interfaces.
	adNode := make([][]nodeFit, len(cfg.Ads))
	for a := range cfg.Ads {
		adNode[a] = make([]nodeFit, len(nodeNames))
		for i, name := range nodeNames {
			adNode[a][i] = fitNode(&cfg.Ads[a], nodes[name], cfg.IgnoreExcludeLB)
		}
	}
	selfIdx, selfFound := slices.BinarySearch(nodeNames, cfg.Self)
	if !selfFound {
		selfIdx = -1
	}
	b := &planBuilder{cfg: cfg, nodes: nodes, nodeNames: nodeNames, adNode: adNode, selfIdx: selfIdx, adSets: map[string]*adSetInfo{}}
	p := &Plan{self: cfg.Self}
	b.p = p
	// Services in key order, so results come out sorted.
	keys := make([]string, len(cfg.Services))
	order := make([]int, len(cfg.Services))
	for i := range cfg.Services {
		keys[i], order[i] = cfg.Services[i].Key(), i
	}
	slices.SortFunc(order, func(x, y int) int { return strings.Compare(keys[x], keys[y]) })
	for _, i := range order {
		svc := &cfg.Services[i]
		p.services = append(p.services, b.plan(svc))
	}
	p.groups = groupServices(p.services)
	for gi := range p.groups {
		b.finishGroup(&p.groups[gi])
	}
	return p
}

// groupServices puts Services that share any IP, directly or through others,
// in one group (union-find over IPs), so all their IPs are decided together
// and land on one node. Grouping on the first IP only let a dual-stack
// Service [X4, Y6] and an IPv6-only Service [Y6] elect different nodes, and
// both answered NDP for Y6. A group is elected on the lowest first IP of its
// members: stable while the members keep their IPs, and for a Service that
// shares nothing it is its first IP, as before. Members stay in key order.
func groupServices(svcs []svcPlan) []group {
	parent := make([]int, len(svcs))
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	byIP := map[netip.Addr]int{}
	for i := range svcs {
		parent[i] = i
		for _, ip := range svcs[i].svc.IPs {
			o, ok := byIP[ip]
			if !ok {
				byIP[ip] = i
				continue
			}
			if a, b := find(o), find(i); a != b {
				parent[max(a, b)] = min(a, b)
			}
		}
	}
	var groups []group
	byRoot := map[int]int{}
	for i := range svcs {
		ips := svcs[i].svc.IPs
		if len(ips) == 0 {
			continue
		}
		r := find(i)
		g, ok := byRoot[r]
		if !ok {
			g = len(groups)
			byRoot[r] = g
			groups = append(groups, group{ip: ips[0]})
		}
		groups[g].members = append(groups[g].members, i)
		if ips[0].Less(groups[g].ip) {
			groups[g].ip = ips[0]
		}
	}
	return groups
}

type planBuilder struct {
	cfg       *Config
	p         *Plan
	nodes     map[string]*Node
	nodeNames []string
	adNode    [][]nodeFit
	selfIdx   int
	adSets    map[string]*adSetInfo
}

func (b *planBuilder) addSet(nodes []string) *candSet {
	if len(nodes) == 0 {
		return nil
	}
	c := newCandSet(nodes)
	c.idx = len(b.p.sets)
	b.p.sets = append(b.p.sets, c)
	return c
}

// adSet returns (memoized) what the ads with these indices allow.
func (b *planBuilder) adSet(ads []int) *adSetInfo {
	var key strings.Builder
	for _, a := range ads {
		key.WriteString(strconv.Itoa(a))
		key.WriteByte(',')
	}
	if info, ok := b.adSets[key.String()]; ok {
		return info
	}
	info := &adSetInfo{}
	var cands []string
	for i, name := range b.nodeNames {
		for _, a := range ads {
			if b.adNode[a][i].reason == "" {
				cands = append(cands, name)
				break
			}
		}
	}
	info.cands = b.addSet(cands)
	// This node: union of the interfaces of the ads that fit it, or why none does.
	if b.selfIdx < 0 {
		info.selfReason = ReasonNodeNotFound
	} else if r := nodeUnusable(b.nodes[b.cfg.Self], b.cfg.IgnoreExcludeLB); r != "" {
		info.selfReason = r
	} else {
		fits, all := false, false
		var ifs []string
		info.selfReason = ReasonNodeNotSelected
		for _, a := range ads {
			f := b.adNode[a][b.selfIdx]
			switch f.reason {
			case "":
				fits = true
				all = all || f.ifaces == nil
				ifs = append(ifs, f.ifaces...)
			case ReasonNoMatchingIface:
				info.selfReason = ReasonNoMatchingIface
			}
		}
		if fits {
			info.selfReason = ""
			if !all {
				slices.Sort(ifs)
				info.selfIfaces = slices.Compact(ifs)
			}
		}
	}
	b.adSets[key.String()] = info
	return info
}

func (b *planBuilder) plan(svc *Service) svcPlan {
	sp := svcPlan{svc: svc}
	if len(svc.IPs) == 0 {
		sp.reason = ReasonNoIPAllocated
		return sp
	}
	pool := b.cfg.Pools.Of(svc.IPs...)
	if pool == nil {
		sp.reason = ReasonIPNotAllowed
		return sp
	}
	var ads []int
	for a := range b.cfg.Ads {
		if b.cfg.Ads[a].SelectsPool(pool) && b.cfg.Ads[a].SelectsService(svc.Labels) {
			ads = append(ads, a)
		}
	}
	if len(ads) == 0 {
		sp.reason = ReasonNoMatchingAdvertisement
		return sp
	}
	if !svc.Serving || (svc.Local && len(svc.ServingNodes) == 0) {
		sp.reason = ReasonNoEndpoints
		return sp
	}
	info := b.adSet(ads)
	sp.cands, sp.reason, sp.ifaces = info.cands, info.selfReason, info.selfIfaces
	if svc.Local {
		var local []string
		for n := range svc.ServingNodes {
			if info.cands.contains(n) {
				local = append(local, n)
			}
		}
		sort.Strings(local)
		sp.cands = b.addSet(local)
		if sp.reason == "" && !svc.ServingNodes[b.cfg.Self] {
			sp.reason = ReasonNoLocalEndpoints
		}
	}
	if sp.reason != "" {
		sp.ifaces = nil
	}
	return sp
}

// finishGroup intersects the candidates of the Services sharing IPs, so they
// land on one node. If they have nothing in common, the first Service (by key)
// with candidates decides and the others report sharedIPConflict.
func (b *planBuilder) finishGroup(g *group) {
	p := b.p
	if len(g.members) == 1 {
		sp := &p.services[g.members[0]]
		g.ips, g.cands, g.ifaces = sp.svc.IPs, sp.cands, sp.ifaces
		return
	}
	// Members were added in key order.
	var inter []string
	first := true
	for _, m := range g.members {
		sp := &p.services[m]
		for _, ip := range sp.svc.IPs {
			if !slices.Contains(g.ips, ip) {
				g.ips = append(g.ips, ip)
			}
		}
		if sp.cands == nil {
			continue
		}
		if first {
			inter, first = slices.Clone(sp.cands.nodes), false
			continue
		}
		inter = slices.DeleteFunc(inter, func(n string) bool { return !sp.cands.has[n] })
	}
	if len(inter) > 0 {
		g.cands = b.addSet(inter)
	} else {
		for _, m := range g.members {
			if c := p.services[m].cands; c != nil {
				g.cands = c
				break
			}
		}
	}
	// This node's interfaces: union over the members it may announce.
	all := false
	var set []string
	for _, m := range g.members {
		sp := &p.services[m]
		if sp.reason != "" {
			continue
		}
		if sp.ifaces == nil {
			all = true
		}
		set = append(set, sp.ifaces...)
	}
	if !all && len(set) > 0 {
		slices.Sort(set)
		g.ifaces = slices.Compact(set)
	}
}

// nodeFit is whether an ad lets a node announce, and on which interfaces.
type nodeFit struct {
	reason string   // "" = fits
	ifaces []string // nil = all
}

func fitNode(ad *config.L2Ad, n *Node, ignoreExclude bool) nodeFit {
	if reason := nodeUnusable(n, ignoreExclude); reason != "" {
		return nodeFit{reason: reason}
	}
	if !ad.SelectsNode(n.Labels) {
		return nodeFit{reason: ReasonNodeNotSelected}
	}
	if !n.InterfacesKnown {
		return nodeFit{ifaces: cloneSorted(ad.Interfaces)}
	}
	if len(ad.Interfaces) == 0 {
		if len(n.Interfaces) == 0 {
			return nodeFit{reason: ReasonNoMatchingIface}
		}
		return nodeFit{}
	}
	var out []string
	for _, want := range ad.Interfaces {
		if slices.Contains(n.Interfaces, want) && !slices.Contains(out, want) {
			out = append(out, want)
		}
	}
	if len(out) == 0 {
		return nodeFit{reason: ReasonNoMatchingIface}
	}
	sort.Strings(out)
	return nodeFit{ifaces: out}
}

func nodeUnusable(n *Node, ignoreExclude bool) string {
	if n.NetworkUnavailable {
		return ReasonNodeNetworkUnavailable
	}
	if _, ok := n.Labels[excludeBalancersLabelKey]; ok && !ignoreExclude {
		return ReasonNodeLabeledExcludeBalancers
	}
	return ""
}

// Decide elects, for every shared IP, an owner among its candidates that the
// liveness view says are alive. This node owns an IP only when inQuorum.
func (p *Plan) Decide(alive []string, inQuorum bool, cache *rendezvous.Cache) Result {
	aliveSet := make(map[string]bool, len(alive))
	for _, n := range alive {
		aliveSet[n] = true
	}
	// Elect per candidate set, in one batch per set.
	type batch struct {
		groups []int
		ips    []netip.Addr
	}
	batches := make([]batch, len(p.sets))
	for gi := range p.groups {
		if c := p.groups[gi].cands; c != nil {
			batches[c.idx].groups = append(batches[c.idx].groups, gi)
			batches[c.idx].ips = append(batches[c.idx].ips, p.groups[gi].ip)
		}
	}
	owners := make([]string, len(p.groups))
	var cands []string
	for si, bt := range batches {
		if len(bt.groups) == 0 {
			continue
		}
		cands = cands[:0]
		for _, n := range p.sets[si].nodes {
			if aliveSet[n] {
				cands = append(cands, n)
			}
		}
		var got []string
		if cache != nil {
			got = cache.Owners(bt.ips, cands)
		} else {
			got = rendezvous.Owners(bt.ips, cands)
		}
		for i, gi := range bt.groups {
			owners[gi] = got[i]
		}
	}

	res := Result{Owned: map[netip.Addr][]string{}, Services: make([]ServiceResult, len(p.services))}
	for i := range p.services {
		sp := &p.services[i]
		res.Services[i] = ServiceResult{Namespace: sp.svc.Namespace, Name: sp.svc.Name, IPs: sp.svc.IPs, Reason: sp.reason}
	}
	for gi := range p.groups {
		g := &p.groups[gi]
		owner := owners[gi]
		if owner != "" && owner == p.self && inQuorum {
			for _, ip := range g.ips {
				res.Owned[ip] = g.ifaces
			}
		}
		for _, m := range g.members {
			r := &res.Services[m]
			sp := &p.services[m]
			if owner != "" && sp.cands.contains(owner) {
				r.Node = owner
			}
			switch {
			case r.Reason != "":
			case owner == "":
				r.Reason = ReasonNoAliveCandidate
				if !inQuorum {
					r.Reason = ReasonNotInQuorum
				}
			case owner != p.self:
				r.Reason = ReasonNotOwner
				if !g.cands.contains(p.self) {
					r.Reason = ReasonSharedIPConflict
				}
			case !inQuorum:
				r.Reason = ReasonNotInQuorum
			case r.Node == "":
				r.Reason = ReasonSharedIPConflict
			default:
				r.Interfaces = sp.ifaces
			}
		}
	}
	return res
}

// Decide is NewPlan(cfg).Decide(alive, inQuorum, nil).
func Decide(cfg *Config, alive []string, inQuorum bool) Result {
	return NewPlan(cfg).Decide(alive, inQuorum, nil)
}

func cloneSorted(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// planGainHold is how long an IP that a configuration change (endpoints,
// labels, advertisements: a new Plan) gives this node waits before it is
// announced. The node losing it sees the same change through its own watch,
// usually within milliseconds but later under load, and stops at once; the
// wait keeps the two from answering together in between. Liveness-driven
// takeovers do not wait.
const planGainHold = 500 * time.Millisecond

// holdPlanGains returns next without the IPs that this node did not own
// before (owned) and that the previous plan, under the same liveness view,
// would not give it either (prev): those are gains caused by the new plan
// alone, held for planGainHold. Losses and liveness-driven gains pass.
func holdPlanGains(next, owned, prev map[netip.Addr][]string) map[netip.Addr][]string {
	var held []netip.Addr
	for ip := range next {
		if _, ok := owned[ip]; ok {
			continue
		}
		if _, ok := prev[ip]; ok {
			continue
		}
		held = append(held, ip)
	}
	if len(held) == 0 {
		return next
	}
	out := make(map[netip.Addr][]string, len(next))
	for ip, ifs := range next {
		out[ip] = ifs
	}
	for _, ip := range held {
		delete(out, ip)
	}
	return out
}
