// Copyright: fractional.gpu contributors
// GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

// fgpu-kubelet stands in for the device manager of one lab node's kubelet, the part a
// device plugin talks to (Kubernetes pkg/kubelet/cm/devicemanager, API
// k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1):
//
//   - it serves the v1beta1 Registration service on <dir>/kubelet.sock, refusing other API
//     versions and resource names that are not extended resource names, as the kubelet does;
//   - for each registered resource it dials <dir>/<endpoint> and follows ListAndWatch;
//   - every --status-interval (the kubelet's node status update frequency) it sets the
//     node's status.capacity to the devices the plugin lists and status.allocatable to
//     the healthy ones. A plugin that goes away leaves its resource with allocatable 0; after
//     --grace (the kubelet's endpoint stop grace period) the capacity drops to 0 too, and
//     the resource stays in the status at 0, as the kubelet leaves it;
//   - when it starts, the device plugin resources already in the node's status are taken as
//     registered by plugins that have not come back yet (the kubelet restores them from its
//     checkpoint): allocatable 0 until their plugin registers again, capacity 0 after --grace.
//
// It never allocates: pods on the lab's nodes are kwok's and run nothing.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

// resource is what the device manager knows of one registered resource name.
type resource struct {
	generation int       // which registration the counts come from
	devices    int       // devices the plugin lists
	healthy    int       // of which healthy
	stoppedAt  time.Time // zero while the plugin's endpoint is connected
}

type kubelet struct {
	pluginapi.UnimplementedRegistrationServer
	node     string
	grace    time.Duration
	api      *apiClient
	mu       sync.Mutex
	counter  int
	resource map[string]*resource
}

// Register is the kubelet's Registration.Register: checks, then follows the endpoint.
func (k *kubelet) Register(_ context.Context, r *pluginapi.RegisterRequest) (*pluginapi.Empty, error) {
	if r.Version != pluginapi.Version {
		log.Printf("refused %s: API version %q", r.ResourceName, r.Version)
		return nil, fmt.Errorf("requested API version %q is not supported by kubelet. Supported versions are [%q]",
			r.Version, pluginapi.Version)
	}
	if !isExtendedResourceName(r.ResourceName) {
		log.Printf("refused resource name %q", r.ResourceName)
		return nil, fmt.Errorf("the ResourceName %q is invalid", r.ResourceName)
	}
	k.mu.Lock()
	k.counter++
	generation := k.counter
	if k.resource[r.ResourceName] == nil {
		k.resource[r.ResourceName] = &resource{}
	}
	k.resource[r.ResourceName].generation = generation
	k.mu.Unlock()
	log.Printf("registered %s at endpoint %s (options %v)", r.ResourceName, r.Endpoint, r.Options)
	// Relative to the socket directory, the kubelet's working directory (see main).
	go k.follow(r.ResourceName, filepath.Base(r.Endpoint), generation)
	return &pluginapi.Empty{}, nil
}

// isExtendedResourceName: a domain-prefixed name outside kubernetes.io, as
// k8s.io/api's helper IsExtendedResourceName requires of device plugin resources.
func isExtendedResourceName(name string) bool {
	domain, short, found := strings.Cut(name, "/")
	if !found || short == "" || domain == "" || strings.Contains(short, "/") {
		return false
	}
	if domain == "kubernetes.io" || strings.HasSuffix(domain, ".kubernetes.io") {
		return false
	}
	return !strings.HasPrefix(name, "requests.")
}

// follow reads the plugin's ListAndWatch stream until it ends.
func (k *kubelet) follow(name, socket string, generation int) {
	conn, err := grpc.NewClient("unix:"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Printf("%s: cannot reach the plugin at %s: %v", name, socket, err)
		k.stopped(name, generation)
		return
	}
	defer conn.Close()
	stream, err := pluginapi.NewDevicePluginClient(conn).ListAndWatch(context.Background(), &pluginapi.Empty{})
	for err == nil {
		var response *pluginapi.ListAndWatchResponse
		response, err = stream.Recv()
		if err != nil {
			break
		}
		healthy := 0
		for _, device := range response.Devices {
			if device.Health == pluginapi.Healthy {
				healthy++
			}
		}
		k.mu.Lock()
		if r := k.resource[name]; r.generation == generation {
			r.devices, r.healthy, r.stoppedAt = len(response.Devices), healthy, time.Time{}
		}
		k.mu.Unlock()
		log.Printf("%s: %d device(s), %d healthy", name, len(response.Devices), healthy)
	}
	if err != io.EOF {
		log.Printf("%s: ListAndWatch ended: %v", name, err)
	}
	k.stopped(name, generation)
}

// stopped marks the devices of an endpoint that went away unhealthy (kubelet:
// markResourceUnhealthy), unless a newer registration replaced it.
func (k *kubelet) stopped(name string, generation int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if r := k.resource[name]; r.generation == generation && r.stoppedAt.IsZero() {
		r.healthy, r.stoppedAt = 0, time.Now()
		log.Printf("%s: endpoint stopped; its devices are unhealthy", name)
	}
}

// quantities: capacity and allocatable per resource, as the kubelet's GetCapacity gives
// them (a resource past its grace period is reported at 0).
func (k *kubelet) quantities() (map[string]string, map[string]string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	capacity, allocatable := map[string]string{}, map[string]string{}
	for name, r := range k.resource {
		if !r.stoppedAt.IsZero() && time.Since(r.stoppedAt) > k.grace {
			r.devices = 0
		}
		capacity[name] = strconv.Itoa(r.devices)
		allocatable[name] = strconv.Itoa(r.healthy)
	}
	return capacity, allocatable
}

// syncStatus patches the node's status whenever the quantities change.
func (k *kubelet) syncStatus(interval time.Duration, stop <-chan struct{}) {
	var last string
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		capacity, allocatable := k.quantities()
		if len(capacity) > 0 {
			patch := map[string]any{"status": map[string]any{"capacity": capacity, "allocatable": allocatable}}
			body, _ := json.Marshal(patch)
			if string(body) != last {
				if err := k.api.patchStatus(k.node, body); err != nil {
					log.Printf("node status not updated: %v", err)
				} else {
					last = string(body)
					log.Printf("node status: capacity %s, allocatable %s", describe(capacity), describe(allocatable))
				}
			}
		}
		select {
		case <-stop:
			return
		case <-ticker.C:
		}
	}
}

func describe(quantities map[string]string) string {
	parts := make([]string, 0, len(quantities))
	for name, value := range quantities {
		parts = append(parts, name+"="+value)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// apiClient patches node status over the lab's admin client certificate.
type apiClient struct {
	server string
	client *http.Client
}

func newAPIClient(server, ca, cert, key string) (*apiClient, error) {
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", ca)
	}
	transport := &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12}}
	return &apiClient{server: server, client: &http.Client{Transport: transport, Timeout: 10 * time.Second}}, nil
}

// deviceResources reads the device plugin resources (extended resources) in the node's
// status capacity.
func (a *apiClient) deviceResources(node string) (map[string]int, error) {
	found := map[string]int{}
	if a == nil {
		return found, nil
	}
	resp, err := a.client.Get(a.server + "/api/v1/nodes/" + node)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d reading node %s", resp.StatusCode, node)
	}
	var object struct {
		Status struct {
			Capacity map[string]string `json:"capacity"`
		} `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&object); err != nil {
		return nil, err
	}
	for name, value := range object.Status.Capacity {
		if count, err := strconv.Atoi(value); err == nil && isExtendedResourceName(name) {
			found[name] = count
		}
	}
	return found, nil
}

func (a *apiClient) patchStatus(node string, body []byte) error {
	if a == nil {
		return nil
	}
	req, err := http.NewRequest(http.MethodPatch, a.server+"/api/v1/nodes/"+node+"/status", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/merge-patch+json")
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		text, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, text)
	}
	return nil
}

// clearDir removes what earlier plugins left in the socket directory, as the kubelet's
// device manager does when it starts.
func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, entry := range entries {
		if err := os.RemoveAll(filepath.Join(dir, entry.Name())); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	node := flag.String("node", "", "the node whose status this kubelet keeps")
	dir := flag.String("dir", "", "the node's device plugin directory (its /var/lib/kubelet/device-plugins)")
	server := flag.String("server", "", "the apiserver's URL (none: node status changes are only logged)")
	ca := flag.String("ca", "", "the apiserver's CA certificate")
	cert := flag.String("cert", "", "client certificate")
	key := flag.String("key", "", "client key")
	interval := flag.Duration("status-interval", 10*time.Second, "how often the node status is synced (kubelet: nodeStatusUpdateFrequency)")
	grace := flag.Duration("grace", 5*time.Minute, "how long a stopped plugin's devices keep their capacity (kubelet: endpointStopGracePeriod)")
	flag.Parse()
	log.SetFlags(log.Ldate | log.Ltime | log.Lmicroseconds)
	log.SetPrefix(*node + " kubelet: ")
	if *node == "" || *dir == "" {
		log.Fatal("--node and --dir are required")
	}
	var api *apiClient
	if *server != "" {
		var err error
		if api, err = newAPIClient(*server, *ca, *cert, *key); err != nil {
			log.Fatalf("apiserver client: %v", err)
		}
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	if err := clearDir(*dir); err != nil {
		log.Fatalf("clearing %s: %v", *dir, err)
	}
	// A unix socket's path holds at most 107 bytes (sun_path), which a lab in a deep
	// directory exceeds (a clone under a long home path): the kubelet works in its socket
	// directory and names every socket relative to it.
	if err := os.Chdir(*dir); err != nil {
		log.Fatal(err)
	}
	socket := filepath.Base(pluginapi.KubeletSocket)
	listener, err := net.Listen("unix", socket)
	if err != nil {
		log.Fatalf("listening on %s in %s: %v", socket, *dir, err)
	}
	k := &kubelet{node: *node, grace: *grace, api: api, resource: map[string]*resource{}}
	known, err := api.deviceResources(*node)
	if err != nil {
		log.Fatalf("reading node %s: %v", *node, err)
	}
	for name, count := range known {
		k.resource[name] = &resource{devices: count, stoppedAt: time.Now()}
	}
	grpcServer := grpc.NewServer()
	pluginapi.RegisterRegistrationServer(grpcServer, k)
	stop := make(chan struct{})
	go k.syncStatus(*interval, stop)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		close(stop)
		grpcServer.Stop()
	}()
	log.Printf("serving Registration on %s in %s", socket, *dir)
	if err := grpcServer.Serve(listener); err != nil {
		log.Printf("stopped: %v", err)
	}
	_ = os.Remove(socket)
}
