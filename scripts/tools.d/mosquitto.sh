# MQTT (issue 19): the mosquitto_pub/mosquitto_sub clients the MQTT listener's tests drive,
# and Debian's mosquitto broker, the peer of `make bench`'s MQTT rows.
want_deb mosquitto-clients mosquitto_pub
want_deb mosquitto /usr/sbin/mosquitto
