"""
What a person looks at: plots, the text and HTML report, and the interactive
trajectory explorer.
"""
