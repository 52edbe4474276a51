"""The sample clips bundled with csc, installed as package data (`csc.data`); see README.md."""
