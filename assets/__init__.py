"""Static files for the dashboard (CSS, clientside JS, sounds), served locally: no CDN."""
