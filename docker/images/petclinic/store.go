package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

type Pet struct{ Name, Type, BirthDate string }

type Owner struct {
	Name, Address, City, Telephone string
	Pets                           []Pet
}

type Store interface {
	Owners(ctx context.Context) ([]Owner, error)
	Ping(ctx context.Context) error
}

// sampleStore is PetClinic's default profile: its sample data in memory.
type sampleStore struct{}

func (sampleStore) Owners(context.Context) ([]Owner, error) {
	byID := map[int]*Owner{}
	var owners []Owner
	for _, o := range sampleOwners {
		owners = append(owners, Owner{Name: o.first + " " + o.last, Address: o.address, City: o.city, Telephone: o.telephone})
	}
	for i := range owners {
		byID[i+1] = &owners[i]
	}
	for _, p := range samplePets {
		byID[p.owner].Pets = append(byID[p.owner].Pets, Pet{Name: p.name, Type: sampleTypes[p.kind-1], BirthDate: p.birth})
	}
	return owners, nil
}

func (sampleStore) Ping(context.Context) error { return nil }

type mysqlStore struct{ db *sql.DB }

func (s *mysqlStore) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

func (s *mysqlStore) Owners(ctx context.Context) ([]Owner, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT o.id, o.first_name, o.last_name, o.address, o.city, o.telephone,
		       COALESCE(p.name, ''), COALESCE(t.name, ''), COALESCE(DATE_FORMAT(p.birth_date, '%Y-%m-%d'), '')
		FROM owners o LEFT JOIN pets p ON p.owner_id = o.id LEFT JOIN types t ON t.id = p.type_id
		ORDER BY o.id, p.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var owners []Owner
	last := -1
	for rows.Next() {
		var id int
		var first, lastName, pet, kind, birth string
		var o Owner
		if err := rows.Scan(&id, &first, &lastName, &o.Address, &o.City, &o.Telephone, &pet, &kind, &birth); err != nil {
			return nil, err
		}
		if id != last {
			o.Name = first + " " + lastName
			owners = append(owners, o)
			last = id
		}
		if pet != "" {
			current := &owners[len(owners)-1]
			current.Pets = append(current.Pets, Pet{Name: pet, Type: kind, BirthDate: birth})
		}
	}
	return owners, rows.Err()
}

// parseJDBC turns spring's DATASOURCE_URL (jdbc:mysql://host[:port]/database?...) into the
// Go driver's settings; the query parameters are Connector/J's and mean nothing here.
func parseJDBC(raw string) (*mysql.Config, error) {
	rest, ok := strings.CutPrefix(raw, "jdbc:")
	if !ok {
		return nil, fmt.Errorf("URL must start with jdbc: %q", raw)
	}
	u, err := url.Parse(rest)
	if err != nil || u.Scheme != "mysql" || u.Hostname() == "" {
		return nil, fmt.Errorf("Driver com.mysql.jdbc.Driver claims to not accept jdbcUrl, %s", raw)
	}
	port := u.Port()
	if port == "" {
		port = "3306"
	}
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = u.Hostname() + ":" + port
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	cfg.User = os.Getenv("DATASOURCE_USERNAME")
	cfg.Passwd = os.Getenv("DATASOURCE_PASSWORD")
	cfg.Timeout = 5 * time.Second
	// MySQL 5.7 and MariaDB still offer the plain native password method.
	cfg.AllowNativePasswords = true
	return cfg, nil
}

// openMySQL connects once, as Hikari does at start-up (initializationFailTimeout: fail fast,
// no retry), and runs the schema and sample data when DATASOURCE_INIT_MODE=always.
func openMySQL(log logger) (*sql.DB, error) {
	cfg, err := parseJDBC(envOr("DATASOURCE_URL", "jdbc:mysql://localhost/petclinic"))
	if err != nil {
		return nil, err
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	log.info("com.zaxxer.hikari.HikariDataSource", "HikariPool-1 - Starting...")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	log.info("com.zaxxer.hikari.HikariDataSource", "HikariPool-1 - Start completed.")
	if os.Getenv("DATASOURCE_INIT_MODE") == "always" {
		log.info("o.s.jdbc.datasource.init.ScriptUtils", "Executing SQL script from class path resource [db/mysql/schema.sql]")
		if err := initialize(ctx, db); err != nil {
			db.Close()
			return nil, errors.Join(errors.New("Failed to execute SQL script statement"), err)
		}
		log.info("o.s.jdbc.datasource.init.ScriptUtils", "Executed SQL script from class path resource [db/mysql/data.sql]")
	}
	return db, nil
}

// initialize is PetClinic's MySQL schema.sql and data.sql: both are written to run at every
// start (IF NOT EXISTS, INSERT IGNORE), so existing rows are kept.
func initialize(ctx context.Context, db *sql.DB) error {
	statements := []string{
		`CREATE TABLE IF NOT EXISTS types (id INT(4) UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(80), INDEX(name)) engine=InnoDB`,
		`CREATE TABLE IF NOT EXISTS owners (id INT(4) UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, first_name VARCHAR(30), last_name VARCHAR(30),
			address VARCHAR(255), city VARCHAR(80), telephone VARCHAR(20), INDEX(last_name)) engine=InnoDB`,
		`CREATE TABLE IF NOT EXISTS pets (id INT(4) UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(30), birth_date DATE,
			type_id INT(4) UNSIGNED NOT NULL, owner_id INT(4) UNSIGNED NOT NULL, INDEX(name),
			FOREIGN KEY (owner_id) REFERENCES owners(id), FOREIGN KEY (type_id) REFERENCES types(id)) engine=InnoDB`,
	}
	for _, statement := range statements {
		if _, err := db.ExecContext(ctx, statement); err != nil {
			return err
		}
	}
	for i, name := range sampleTypes {
		if _, err := db.ExecContext(ctx, `INSERT IGNORE INTO types VALUES (?, ?)`, i+1, name); err != nil {
			return err
		}
	}
	for i, o := range sampleOwners {
		if _, err := db.ExecContext(ctx, `INSERT IGNORE INTO owners VALUES (?, ?, ?, ?, ?, ?)`, i+1, o.first, o.last, o.address, o.city, o.telephone); err != nil {
			return err
		}
	}
	for i, p := range samplePets {
		if _, err := db.ExecContext(ctx, `INSERT IGNORE INTO pets VALUES (?, ?, ?, ?, ?)`, i+1, p.name, p.birth, p.kind, p.owner); err != nil {
			return err
		}
	}
	return nil
}

// PetClinic's sample data (src/main/resources/db/*/data.sql).
var sampleTypes = []string{"cat", "dog", "lizard", "snake", "bird", "hamster"}

var sampleOwners = []struct{ first, last, address, city, telephone string }{
	{"George", "Franklin", "110 W. Liberty St.", "Madison", "6085551023"},
	{"Betty", "Davis", "638 Cardinal Ave.", "Sun Prairie", "6085551749"},
	{"Eduardo", "Rodriquez", "2693 Commerce St.", "McFarland", "6085558763"},
	{"Harold", "Davis", "563 Friendly St.", "Windsor", "6085553198"},
	{"Peter", "McTavish", "2387 S. Fair Way", "Madison", "6085552765"},
	{"Jean", "Coleman", "105 N. Lake St.", "Monona", "6085552654"},
	{"Jeff", "Black", "1450 Oak Blvd.", "Monona", "6085555387"},
	{"Maria", "Escobito", "345 Maple St.", "Madison", "6085557683"},
	{"David", "Schroeder", "2749 Blackhawk Trail", "Madison", "6085559435"},
	{"Carlos", "Estaban", "2335 Independence La.", "Waunakee", "6085555487"},
}

var samplePets = []struct {
	name, birth string
	kind, owner int
}{
	{"Leo", "2010-09-07", 1, 1}, {"Basil", "2012-08-06", 6, 2}, {"Rosy", "2011-04-17", 2, 3},
	{"Jewel", "2010-03-07", 2, 3}, {"Iggy", "2010-11-30", 3, 4}, {"George", "2010-01-20", 4, 5},
	{"Samantha", "2012-09-04", 1, 6}, {"Max", "2012-09-04", 1, 6}, {"Lucky", "2011-08-06", 5, 7},
	{"Mulligan", "2007-02-24", 2, 8}, {"Freddy", "2010-03-09", 5, 9}, {"Lucky", "2010-06-24", 2, 10},
	{"Sly", "2012-06-08", 1, 10},
}
