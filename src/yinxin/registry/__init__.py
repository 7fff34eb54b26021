"""The registration desk: subscribers, applications, the certificate lifecycle and fees."""
