# kcat (Debian's, linked with librdkafka 2.0.2): the Kafka listener's tests drive it (issue 14).
want_deb kcat kcat
