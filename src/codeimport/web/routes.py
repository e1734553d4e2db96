"""The web interface's addresses."""


def includeme(config):
    config.add_route("imports", "/")
    config.add_route("import", "/imports/{id:\\d+}")
    config.add_route("import_log",
                     "/imports/{id:\\d+}/results/{result:\\d+}/log")
    config.add_route("import_request", "/imports/{id:\\d+}/request")
    config.add_route("import_retry", "/imports/{id:\\d+}/retry")
    config.add_route("import_review", "/imports/{id:\\d+}/review")
    config.add_route("machines", "/machines")
    config.add_route("machine", "/machines/{hostname}")
    config.add_route("machine_state", "/machines/{hostname}/state")
    config.add_route("login", "/login")
    config.add_route("logout", "/logout")
    config.add_static_view("static", "codeimport.web:static",
                           cache_max_age=3600)
