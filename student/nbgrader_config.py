"""nbgrader's settings for students: the course's name, for the Assignments panel.

Where the course runs nbgrader's exchange (on a JupyterHub, say), the instructor sets
`c.Exchange.root` to it here or in the hub's global nbgrader configuration.
"""

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)
c.CourseDirectory.course_id = "dlparallel"
