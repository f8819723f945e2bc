// petclinic stands in for spring2go/spring-petclinic on the local real node, which has no
// registry to pull the real image from. It answers on :8080 with a page that shows its version
// (1.0.0 blue, 1.0.1 green, so a blue-green switch is visible), the Pod's name and IP, and the
// owners and pets it reads from the database that the article's environment names. It logs its
// start-up like the Spring Boot application and fails like it when the database cannot be
// reached, so `kubectl logs` and a crash loop teach what they would on kind.
//
// The binary is also the image's `printenv` (Debian's static busybox has no such applet): run
// under that name it prints the environment as coreutils' printenv does.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	if filepath.Base(os.Args[0]) == "printenv" {
		os.Exit(printenv(os.Args[1:]))
	}
	os.Exit(run())
}

// printenv behaves as coreutils' printenv: every variable, or the values of the named ones,
// exiting 1 if any is unset.
func printenv(names []string) int {
	if len(names) == 0 {
		for _, pair := range os.Environ() {
			fmt.Println(pair)
		}
		return 0
	}
	status := 0
	for _, name := range names {
		if value, ok := os.LookupEnv(name); ok {
			fmt.Println(value)
		} else {
			status = 1
		}
	}
	return status
}

func run() int {
	started := time.Now()
	version := envOr("PETCLINIC_VERSION", "1.0.0.RELEASE")
	host, _ := os.Hostname()
	port := envOr("SERVER_PORT", "8080")
	profiles := activeProfiles()

	fmt.Print(banner)
	log := newLogger()
	log.info("o.s.s.petclinic.PetClinicApplication", "Starting PetClinicApplication v%s on %s with PID %d (/app/petclinic started by root in /)", version, host, os.Getpid())
	if len(profiles) == 0 {
		log.info("o.s.s.petclinic.PetClinicApplication", "No active profile set, falling back to default profiles: default")
	} else {
		log.info("o.s.s.petclinic.PetClinicApplication", "The following profiles are active: %s", strings.Join(profiles, ","))
	}
	log.info("o.s.b.w.embedded.tomcat.TomcatWebServer", "Tomcat initialized with port(s): %s (http)", port)

	var store Store
	if hasProfile(profiles, "mysql") {
		db, err := openMySQL(log)
		if err != nil {
			// Spring Boot stops here: Hikari fails the context at start-up, the JVM exits 1 and
			// the kubelet restarts the container (CrashLoopBackOff).
			log.failure(err)
			return 1
		}
		defer db.Close()
		store = &mysqlStore{db: db}
	} else {
		// PetClinic's default profile uses an in-memory HSQLDB filled with its sample data.
		log.info("com.zaxxer.hikari.HikariDataSource", "HikariPool-1 - Starting...")
		log.info("com.zaxxer.hikari.HikariDataSource", "HikariPool-1 - Start completed.")
		store = sampleStore{}
	}

	// SERVER_ADDRESS is Spring Boot's server.address: the tests keep the program on loopback.
	listener, err := net.Listen("tcp", net.JoinHostPort(os.Getenv("SERVER_ADDRESS"), port))
	if err != nil {
		log.error("o.s.b.d.LoggingFailureAnalysisReporter", "\n\n***************************\nAPPLICATION FAILED TO START\n***************************\n\nDescription:\n\nThe Tomcat connector configured to listen on port %s failed to start. The port may already be in use or the connector may be misconfigured.\n", port)
		return 1
	}
	server := &http.Server{Handler: routes(store, page{Version: version, Host: host, IP: podIP()}), ReadHeaderTimeout: 10 * time.Second}
	log.info("o.s.b.w.embedded.tomcat.TomcatWebServer", "Tomcat started on port(s): %s (http) with context path ''", port)
	log.info("o.s.s.petclinic.PetClinicApplication", "Started PetClinicApplication in %.3f seconds", time.Since(started).Seconds())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	failed := make(chan error, 1)
	go func() { failed <- server.Serve(listener) }()
	select {
	case err := <-failed:
		log.error("o.s.boot.SpringApplication", "Application run failed: %v", err)
		return 1
	case <-stop:
	}
	// What Spring Boot prints on SIGTERM, so `kubectl logs --previous` after a rollout shows it.
	log.info("o.s.s.concurrent.ThreadPoolTaskExecutor", "Shutting down ExecutorService 'applicationTaskExecutor'")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = server.Shutdown(ctx)
	log.info("com.zaxxer.hikari.HikariDataSource", "HikariPool-1 - Shutdown initiated...")
	log.info("com.zaxxer.hikari.HikariDataSource", "HikariPool-1 - Shutdown completed.")
	return 0
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func activeProfiles() []string {
	var profiles []string
	for _, name := range strings.Split(os.Getenv("SPRING_PROFILES_ACTIVE"), ",") {
		if name = strings.TrimSpace(name); name != "" {
			profiles = append(profiles, name)
		}
	}
	return profiles
}

func hasProfile(profiles []string, want string) bool {
	for _, name := range profiles {
		if name == want {
			return true
		}
	}
	return false
}

// podIP is the first non-loopback IPv4 address: in a Pod, the address the CNI gave it.
func podIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "unknown"
	}
	for _, addr := range addrs {
		if ipnet, ok := addr.(*net.IPNet); ok && !ipnet.IP.IsLoopback() && ipnet.IP.To4() != nil {
			return ipnet.IP.String()
		}
	}
	return "127.0.0.1"
}
