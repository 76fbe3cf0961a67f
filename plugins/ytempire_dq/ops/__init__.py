"""Operating the servers: embedded services, backups, restore, the recovery drill, monitoring, alerts, the demo."""
