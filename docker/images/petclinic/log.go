package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The banner and log layout of a Spring Boot 2 application, so the start-up in `kubectl logs`
// reads like the real image's.
const banner = `

   ____             _                   ____      _    ____ _ _       _
  / ___| _ __  _ __(_)_ __   __ _      |  _ \ ___| |_ / ___| (_)_ __ (_) ___
  \___ \| '_ \| '__| | '_ \ / _' |     | |_) / _ \ __| |   | | | '_ \| |/ __|
   ___) | |_) | |  | | | | | (_| |     |  __/  __/ |_| |___| | | | | | | (__
  |____/| .__/|_|  |_|_| |_|\__, |     |_|   \___|\__|\____|_|_|_| |_|_|\___|
        |_|                 |___/
 ==========================================================================
 :: Built with Spring Boot :: 2.0.4.RELEASE      (local stand-in, see docker/images/petclinic)

`

type logger struct{ pid int }

func newLogger() logger { return logger{pid: os.Getpid()} }

func (l logger) line(level, source, format string, args ...any) {
	stamp := time.Now().Format("2006-01-02 15:04:05.000")
	fmt.Printf("%s %5s %d --- [           main] %-40.40s : %s\n", stamp, level, l.pid, source, fmt.Sprintf(format, args...))
}

func (l logger) info(source, format string, args ...any)  { l.line("INFO", source, format, args...) }
func (l logger) error(source, format string, args ...any) { l.line("ERROR", source, format, args...) }

// failure logs a database error the way Hikari and Connector/J report it: the pool's one line,
// the JDBC exception, and the Java cause a student would search for (UnknownHostException when
// the Service name does not resolve, ConnectException when nothing listens).
func (l logger) failure(err error) {
	l.error("com.zaxxer.hikari.pool.HikariPool", "HikariPool-1 - Exception during pool initialization.")
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var serverErr *mysql.MySQLError
	switch {
	case errors.As(err, &dnsErr):
		fmt.Printf("\ncom.mysql.cj.jdbc.exceptions.CommunicationsException: Communications link failure\n\n" +
			"The last packet sent successfully to the server was 0 milliseconds ago. The driver has not received any packets from the server.\n" +
			"\tat com.mysql.cj.jdbc.exceptions.SQLError.createCommunicationsException(SQLError.java:174)\n" +
			"\tat com.zaxxer.hikari.pool.HikariPool.checkFailFast(HikariPool.java:560)\n")
		fmt.Printf("Caused by: java.net.UnknownHostException: %s: Name or service not known\n", dnsErr.Name)
	case errors.As(err, &opErr):
		fmt.Printf("\ncom.mysql.cj.jdbc.exceptions.CommunicationsException: Communications link failure\n\n" +
			"The last packet sent successfully to the server was 0 milliseconds ago. The driver has not received any packets from the server.\n" +
			"\tat com.zaxxer.hikari.pool.HikariPool.checkFailFast(HikariPool.java:560)\n")
		fmt.Printf("Caused by: java.net.ConnectException: %v\n", opErr.Err)
	case errors.As(err, &serverErr):
		// The server answered and refused: a wrong password or database, as Connector/J says it.
		fmt.Printf("\njava.sql.SQLException: %s\n\tat com.zaxxer.hikari.pool.HikariPool.checkFailFast(HikariPool.java:560)\n", serverErr.Message)
	default:
		fmt.Printf("\njava.sql.SQLException: %v\n\tat com.zaxxer.hikari.pool.HikariPool.checkFailFast(HikariPool.java:560)\n", err)
	}
	fmt.Println()
	l.line("WARN", "ConfigServletWebServerApplicationContext", "Exception encountered during context initialization - cancelling refresh attempt: "+
		"org.springframework.beans.factory.BeanCreationException: Error creating bean with name 'dataSource': Failed to initialize the pool")
	l.error("o.s.boot.SpringApplication", "Application run failed")
}
