module nats-cluster/faults/netdelay

go 1.22
